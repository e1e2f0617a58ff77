// oneDNN's C interface (Debian: libdnnl-dev; no pkg-config file, so the headers are found in
// /usr/include and the library by name), and the two OpenMP calls that set how many threads
// its products use. oneDNN's Debian build runs on GNU OpenMP; omp.h sits in GCC's private
// include directory, which clang does not search, so the two are declared here.
#include <oneapi/dnnl/dnnl.h>

int omp_get_max_threads(void);
void omp_set_num_threads(int);
