// OpenBLAS's CBLAS interface and its thread-count control (pkg-config: openblas).
#include <cblas.h>
