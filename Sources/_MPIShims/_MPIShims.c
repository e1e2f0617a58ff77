// Everything lives in include/_MPIShims.h as static inline functions; SwiftPM needs one source
// file to build a C target.
#include "_MPIShims.h"
