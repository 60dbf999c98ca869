// glibc's allocator statistics (`mallinfo2`), for faceid-bench's heap figures.
#include <malloc.h>
