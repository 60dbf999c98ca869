#include <cblas.h>
/* openblas_set_num_threads / openblas_get_num_threads come from cblas.h (openblas_config.h). */
