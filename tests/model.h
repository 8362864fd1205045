/*
 * model.h -- a plain sorted map of byte strings: the reference the randomized
 * tests compare the engine against. Deliberately simple (a sorted array and
 * binary search) so that it is obviously right.
 */
#ifndef LSM_TEST_MODEL_H
#define LSM_TEST_MODEL_H

#include <stddef.h>

typedef struct model_entry {
    char *k;
    size_t kl;
    char *v;
    size_t vl;
} model_entry;

typedef struct model {
    model_entry *e;
    size_t n, cap;
} model;

void model_init(model *m);
void model_free(model *m);
/* Deep copy. */
void model_copy(model *dst, const model *src);
/* Index of the first entry >= key. */
size_t model_lower_bound(const model *m, const void *k, size_t kl);
/* The entry for key or NULL. */
const model_entry *model_find(const model *m, const void *k, size_t kl);
void model_put(model *m, const void *k, size_t kl, const void *v, size_t vl);
void model_del(model *m, const void *k, size_t kl);
int model_keycmp(const void *a, size_t al, const void *b, size_t bl);

#endif /* LSM_TEST_MODEL_H */
