// Open MPI's C interface (pkg-config: ompi-c). Its predefined handles are macros that Swift
// cannot import; _MPIShims exports them as functions.
#include <mpi.h>
