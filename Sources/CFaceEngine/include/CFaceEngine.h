#ifndef CFACEENGINE_H
#define CFACEENGINE_H
/* The C ABI over dlib's face pipeline (face_engine.cpp holds every dlib template).
 *
 * Conventions: every entry point catches every exception and returns an fe_status; on failure a
 * NUL-terminated message (never pixel or descriptor data) is copied into the caller's buffer;
 * outputs go to caller-allocated memory. An fe_engine is not thread-safe: use one per thread.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FE_OK = 0,
    FE_ERR_INVALID_ARGUMENT = 1,
    FE_ERR_MODEL = 2,              /* a model file is missing, unreadable or not a dlib model */
    FE_ERR_EMPTY_IMAGE = 3,        /* zero bytes */
    FE_ERR_UNSUPPORTED_FORMAT = 4, /* not JPEG or PNG (GIF, WebP, BMP, text, ...) */
    FE_ERR_CORRUPT_IMAGE = 5,      /* JPEG/PNG signature but undecodable, truncated or damaged */
    FE_ERR_IMAGE_TOO_LARGE = 6,    /* more pixels than fe_options.max_pixels */
    FE_ERR_INTERNAL = 99
} fe_status;

/* An opaque engine: the HOG and CNN detectors, the 5-point shape predictor and the ResNet. */
typedef struct fe_engine fe_engine;

/* A box in image pixels, clipped to the image: right and bottom are exclusive-ish exactly as in
 * face_recognition's (top, right, bottom, left) after _trim_css_to_bounds. */
typedef struct {
    int32_t left, top, right, bottom;
} fe_rect;

typedef struct {
    fe_rect box;
    fe_rect raw_box;        /* the detector's rectangle before clipping (may extend past the image) */
    double score;           /* detector confidence (HOG: SVM margin; CNN: MMOD score) */
    int32_t detector;       /* 0 = HOG, 1 = CNN */
    float landmarks[10];    /* 5 points (x, y) from shape_predictor_5_face_landmarks */
    float descriptor[128];  /* dlib_face_recognition_resnet_model_v1; zero when not computed */
} fe_face;

typedef struct {
    int32_t upsample;              /* HOG pyramid-up steps (face_recognition: 1) */
    int32_t use_cnn;               /* 1: MMOD CNN detector instead of HOG */
    int64_t cnn_fallback_max_pixels; /* HOG found nothing and w*h <= this: run the CNN (0: never) */
    int32_t detection_max_side;    /* detect on a copy downscaled to this longest side (0: never) */
    int32_t jitters;               /* 0 or 1: none (face_recognition's num_jitters=1) */
    int32_t mirror;                /* 1: average the descriptor with the mirrored chip's */
    int32_t describe;              /* 0: detection and landmarks only */
    int64_t max_pixels;            /* refuse larger images (0: no bound) */
    int32_t try_rotations;         /* no face upright: try the image turned 90, 270 and 180 degrees */
} fe_options;

/* Loads the three models from `models_dir`. +1: the caller owns *out and frees it with
 * fe_engine_destroy. */
fe_status fe_engine_create(const char *models_dir, fe_engine **out, char *message, size_t message_size);

/* Frees an engine (NULL is ignored). */
void fe_engine_destroy(fe_engine *engine);

/* Decodes `data` (JPEG or PNG; EXIF orientation applied), detects faces and, unless
 * options->describe is 0, computes their descriptors. Writes at most `capacity` faces, in
 * detector order, and the total found to *count. *width and *height receive the size of the
 * image the boxes refer to, *rotation the clockwise turn (0, 90, 180, 270) applied to find them. */
fe_status fe_engine_analyze(fe_engine *engine, const uint8_t *data, size_t size, const fe_options *options,
                            fe_face *faces, size_t capacity, size_t *count, int32_t *width, int32_t *height,
                            int32_t *rotation, char *message, size_t message_size);

/* Computes descriptors for the given boxes (landmarks + descriptor), as face_recognition's
 * face_encodings(img, known_face_locations). `faces[i].box` is input; the rest is output. */
fe_status fe_engine_describe(fe_engine *engine, const uint8_t *data, size_t size, const fe_options *options,
                             fe_face *faces, size_t count, char *message, size_t message_size);

/* MARK: - Decoding shared by every model */

/* Decodes `data` (JPEG or PNG) into upright RGB (EXIF orientation applied) with the same rules and errors as
 * fe_engine_analyze. +1: *rgb is the caller's (3 bytes a pixel, rows top to bottom), freed with fe_image_free. */
fe_status fe_image_decode(const uint8_t *data, size_t size, int64_t max_pixels, uint8_t **rgb, int32_t *width,
                          int32_t *height, char *message, size_t message_size);

/* Frees what fe_image_decode returned (NULL is ignored). */
void fe_image_free(uint8_t *rgb);

/* MARK: - SFace (YuNet detector + SFace recognizer through OpenCV's dnn module; sface_engine.cpp) */

/* An opaque SFace engine: YuNet as a cv::dnn::Net and a cv::FaceRecognizerSF. Not thread-safe. */
typedef struct fe_sface fe_sface;

typedef struct {
    float box[4];          /* x, y, width, height in image pixels, as YuNet regressed it (may extend past the image) */
    float landmarks[10];   /* 5 points (x, y): right eye, left eye, nose tip, right and left mouth corners */
    float score;           /* sqrt(class score * objectness), 0...1 */
    float embedding[128];  /* SFace feature, L2-normalised; zero when not computed */
} fe_sface_face;

typedef struct {
    int32_t detection_max_side; /* detect on a copy downscaled to this longest side (0: full size) */
    float score_threshold;      /* faces below are dropped (YuNet's default 0.6) */
    float nms_threshold;        /* IoU above which the lower-scored box is dropped (0.3) */
    int32_t describe;           /* 0: detection only */
} fe_sface_options;

/* Loads the converted fp32 ONNX files `detector_path` (YuNet 2023mar) and `recognizer_path` (SFace 2021dec).
 * +1: the caller owns *out and frees it with fe_sface_destroy. */
fe_status fe_sface_create(const char *detector_path, const char *recognizer_path, fe_sface **out, char *message,
                          size_t message_size);

/* Frees an engine (NULL is ignored). */
void fe_sface_destroy(fe_sface *engine);

/* Detects the faces of an upright RGB image (as fe_image_decode gives it) and, unless options->describe is 0, their
 * embeddings (alignCrop on the full image, then the recognizer). Writes at most `capacity` faces, best score first,
 * and the total found to *count. */
fe_status fe_sface_analyze(fe_sface *engine, const uint8_t *rgb, int32_t width, int32_t height, const fe_sface_options *options,
                           fe_sface_face *faces, size_t capacity, size_t *count, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif
#endif
