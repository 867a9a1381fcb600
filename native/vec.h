/* A growable byte array for the addon's C files; every append checks capacity first. */
#ifndef MOAT_VEC_H
#define MOAT_VEC_H

#include <stdint.h>
#include <stdlib.h>

typedef struct {
  uint8_t *data;
  size_t len, cap;
} vec;

/* Room for `more` bytes after len: 0, or -1 when memory ran out (the vector is then unchanged). */
static inline int vec_reserve(vec *v, size_t more) {
  if (v->len + more <= v->cap) return 0;
  size_t cap = v->cap ? v->cap * 2 : 4096;
  while (cap < v->len + more) cap *= 2;
  uint8_t *p = realloc(v->data, cap);
  if (!p) return -1;
  v->data = p;
  v->cap = cap;
  return 0;
}

#endif
