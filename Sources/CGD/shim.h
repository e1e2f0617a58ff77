// libgd: PNG and animated GIF encoding and TrueType text (through its FreeType support), for the
// analysis figures (pkg-config: gdlib; Debian: libgd-dev).
#include <gd.h>

// gd.h's accessors are function-like macros, which Swift cannot import: each is wrapped here.

/// gdImageSX / gdImageSY: the image's width and height in pixels.
static inline int cgd_width(gdImagePtr image) { return gdImageSX(image); }
static inline int cgd_height(gdImagePtr image) { return gdImageSY(image); }
