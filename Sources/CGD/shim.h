// libgd: PNG and animated GIF encoding and its built-in bitmap fonts, for the analysis figures
// (pkg-config: gdlib; Debian: libgd-dev).
#include <gd.h>
#include <gdfonts.h>
#include <gdfontl.h>
#include <gdfontt.h>

// gd.h's accessors are function-like macros, which Swift cannot import: each is wrapped here.

/// gdImageSX / gdImageSY: the image's width and height in pixels.
static inline int cgd_width(gdImagePtr image) { return gdImageSX(image); }
static inline int cgd_height(gdImagePtr image) { return gdImageSY(image); }

/// gdFontPtr's glyph size, read through the pointer (the struct is imported, but this keeps
/// callers off its layout).
static inline int cgd_font_width(gdFontPtr font) { return font->w; }
static inline int cgd_font_height(gdFontPtr font) { return font->h; }
