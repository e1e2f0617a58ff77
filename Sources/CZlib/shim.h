// zlib, used for its CRC-32 (the checkpoint checksum) (pkg-config: zlib).
#include <zlib.h>
