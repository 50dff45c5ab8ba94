#ifndef PBT_CBLAS_SHIM_H
#define PBT_CBLAS_SHIM_H
/* OpenBLAS through its CBLAS interface (Debian: libopenblas-dev). */
#include <cblas.h>
/* Declared by OpenBLAS's own cblas.h, but not by every cblas.h the alternatives system may pick. */
void openblas_set_num_threads(int num_threads);
#endif
