// libgd: PNG and animated GIF encoding and its built-in bitmap fonts, for the analysis figures
// (pkg-config: gdlib; Debian: libgd-dev).
#include <gd.h>
#include <gdfonts.h>
#include <gdfontl.h>
#include <gdfontt.h>

// gd.h's accessors are function-like macros, which Swift cannot import: each is wrapped here.

/// gdTrueColor(r, g, b): a truecolor pixel value.
static inline int cgd_true_color(int r, int g, int b) { return gdTrueColor(r, g, b); }

/// gdImageSX / gdImageSY: the image's width and height in pixels.
static inline int cgd_width(gdImagePtr image) { return gdImageSX(image); }
static inline int cgd_height(gdImagePtr image) { return gdImageSY(image); }

/// gdImageTrueColor: whether the image stores truecolor pixels (else palette indices).
static inline int cgd_is_true_color(gdImagePtr image) { return gdImageTrueColor(image); }

/// gdFontPtr's glyph size, read through the pointer (the struct is imported, but this keeps
/// callers off its layout).
static inline int cgd_font_width(gdFontPtr font) { return font->w; }
static inline int cgd_font_height(gdFontPtr font) { return font->h; }
