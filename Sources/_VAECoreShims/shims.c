// Everything is static inline in the header; SwiftPM needs one source file for a C target.
#include "_VAECoreShims.h"
