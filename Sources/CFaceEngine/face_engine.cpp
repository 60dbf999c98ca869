// The whole dlib face pipeline in one translation unit: every dlib template is instantiated here
// once (each extra unit including dlib/dnn.h costs ~25 s of build), compiled at -O2 even in
// debug builds (at -O0 detection is ~60x slower). See include/CFaceEngine.h for the C ABI.
#include "CFaceEngine.h"
#include "Guarded.hpp"

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

extern "C" {
#include <jpeglib.h>
#include <png.h>
void openblas_set_num_threads(int num_threads);
}

using namespace dlib;

// MARK: - Networks (dlib's examples: dnn_face_recognition_ex.cpp, dnn_mmod_face_detection_ex.cpp)

namespace recognition {
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = add_prev1<block<N, BN, 1, tag1<SUBNET>>>;
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<block<N, BN, 2, tag1<SUBNET>>>>>>;
template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, stride, stride, SUBNET>>>>>;
template <int N, typename SUBNET> using ares = relu<residual<block, N, affine, SUBNET>>;
template <int N, typename SUBNET> using ares_down = relu<residual_down<block, N, affine, SUBNET>>;
template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;
using anet_type = loss_metric<fc_no_bias<128, avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<
    max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2, input_rgb_image_sized<150>>>>>>>>>>>>>;
}  // namespace recognition

namespace detection {
template <long num_filters, typename SUBNET> using con5d = con<num_filters, 5, 5, 2, 2, SUBNET>;
template <long num_filters, typename SUBNET> using con5 = con<num_filters, 5, 5, 1, 1, SUBNET>;
template <typename SUBNET>
using downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16, SUBNET>>>>>>>>>;
template <typename SUBNET> using rcon5 = relu<affine<con5<45, SUBNET>>>;
using net_type = loss_mmod<con<1, 9, 9, 1, 1, rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>;
}  // namespace detection

struct fe_engine {
    frontal_face_detector hog = get_frontal_face_detector();
    detection::net_type cnn;
    shape_predictor landmarks;
    recognition::anet_type net;
    dlib::rand jitterRandom;
};

namespace {

// MARK: - Errors

using FaceError = fe::Error;
using fe::copyMessage;
using fe::guarded;

// MARK: - Decoding

using Image = matrix<rgb_pixel>;

void checkPixels(uint64_t width, uint64_t height, int64_t maxPixels) {
    if (width == 0 || height == 0) throw FaceError(FE_ERR_CORRUPT_IMAGE, "image has no pixels");
    if (maxPixels > 0 && width * height > (uint64_t)maxPixels)
        throw FaceError(FE_ERR_IMAGE_TOO_LARGE, "image has " + std::to_string(width * height) +
                                                    " pixels; the limit is " + std::to_string(maxPixels));
}

/* libjpeg reports fatal errors through error_exit, which must not return: jump back to the
   decoder. Corrupt-data warnings (truncated file, bad Huffman code, lost sync) are recorded so that
   a damaged JPEG is refused instead of being padded with grey. */
struct JpegErrors {
    jpeg_error_mgr pub;
    jmp_buf jump;
    char text[JMSG_LENGTH_MAX];
    int corrupt;
};

extern "C" void jpegErrorExit(j_common_ptr cinfo) {
    JpegErrors *errors = reinterpret_cast<JpegErrors *>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, errors->text);
    longjmp(errors->jump, 1);
}

extern "C" void jpegEmitMessage(j_common_ptr cinfo, int level) {
    if (level < 0) {  // a warning: every libjpeg warning during decoding means damaged data
        JpegErrors *errors = reinterpret_cast<JpegErrors *>(cinfo->err);
        if (!errors->corrupt) (*cinfo->err->format_message)(cinfo, errors->text);
        errors->corrupt = 1;
    }
}

/* EXIF orientation (1-8) from an APP1 marker, or 1. */
int exifOrientation(const jpeg_saved_marker_ptr markers) {
    for (jpeg_saved_marker_ptr m = markers; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 14 || std::memcmp(m->data, "Exif\0\0", 6) != 0) continue;
        const uint8_t *tiff = m->data + 6;
        const size_t size = m->data_length - 6;
        const bool little = tiff[0] == 'I' && tiff[1] == 'I';
        if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
        auto u16 = [&](size_t at) -> uint32_t {
            return little ? (uint32_t)(tiff[at] | tiff[at + 1] << 8) : (uint32_t)(tiff[at] << 8 | tiff[at + 1]);
        };
        auto u32 = [&](size_t at) -> uint32_t {
            return little ? (uint32_t)tiff[at] | (uint32_t)tiff[at + 1] << 8 | (uint32_t)tiff[at + 2] << 16 | (uint32_t)tiff[at + 3] << 24
                          : (uint32_t)tiff[at] << 24 | (uint32_t)tiff[at + 1] << 16 | (uint32_t)tiff[at + 2] << 8 | (uint32_t)tiff[at + 3];
        };
        const size_t ifd = u32(4);
        if (ifd + 2 > size) return 1;
        const uint32_t entries = u16(ifd);
        for (uint32_t i = 0; i < entries; i++) {
            const size_t e = ifd + 2 + 12 * (size_t)i;
            if (e + 12 > size) break;
            if (u16(e) == 0x0112) {
                const uint32_t value = u16(e + 8);
                return value >= 1 && value <= 8 ? (int)value : 1;
            }
        }
    }
    return 1;
}

/* Decodes into a malloc'ed RGB buffer. Only plain C data lives between setjmp and longjmp. */
fe_status decodeJpegRaw(const uint8_t *data, size_t size, int64_t maxPixels, uint8_t **pixels, uint32_t *width,
                        uint32_t *height, int *orientation, char *error, size_t errorSize) {
    jpeg_decompress_struct cinfo;
    JpegErrors errors;
    std::memset(&errors, 0, sizeof errors);
    cinfo.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = jpegErrorExit;
    errors.pub.emit_message = jpegEmitMessage;
    volatile uint8_t *buffer = nullptr;
    if (setjmp(errors.jump)) {
        jpeg_destroy_decompress(&cinfo);
        std::free((void *)buffer);
        std::snprintf(error, errorSize, "undecodable JPEG: %s", errors.text);
        return FE_ERR_CORRUPT_IMAGE;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    const uint64_t w = cinfo.image_width, h = cinfo.image_height;
    if (w == 0 || h == 0 || (maxPixels > 0 && w * h > (uint64_t)maxPixels)) {
        jpeg_destroy_decompress(&cinfo);
        std::snprintf(error, errorSize, "image has %llu pixels; the limit is %lld", (unsigned long long)(w * h),
                      (long long)maxPixels);
        return w == 0 || h == 0 ? FE_ERR_CORRUPT_IMAGE : FE_ERR_IMAGE_TOO_LARGE;
    }
    *orientation = exifOrientation(cinfo.marker_list);
    const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const size_t components = (size_t)cinfo.output_components;
    buffer = (uint8_t *)std::malloc((size_t)w * h * 3);
    uint8_t *line = (uint8_t *)std::malloc((size_t)w * components);
    if (!buffer || !line) {
        std::free(line);
        std::free((void *)buffer);
        jpeg_destroy_decompress(&cinfo);
        std::snprintf(error, errorSize, "out of memory");
        return FE_ERR_INTERNAL;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[1] = {line};
        const JDIMENSION y = cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, rows, 1);
        uint8_t *out = (uint8_t *)buffer + (size_t)y * w * 3;
        if (cmyk) {
            // Adobe CMYK JPEGs store inverted values (what PIL assumes too): R = C·K / 255.
            for (size_t x = 0; x < w; x++) {
                const uint32_t k = line[x * 4 + 3];
                out[x * 3 + 0] = (uint8_t)(line[x * 4 + 0] * k / 255);
                out[x * 3 + 1] = (uint8_t)(line[x * 4 + 1] * k / 255);
                out[x * 3 + 2] = (uint8_t)(line[x * 4 + 2] * k / 255);
            }
        } else {
            std::memcpy(out, line, (size_t)w * 3);
        }
    }
    jpeg_finish_decompress(&cinfo);
    std::free(line);
    jpeg_destroy_decompress(&cinfo);
    if (errors.corrupt) {
        std::free((void *)buffer);
        std::snprintf(error, errorSize, "damaged JPEG data: %s", errors.text);
        return FE_ERR_CORRUPT_IMAGE;
    }
    *pixels = (uint8_t *)buffer;
    *width = (uint32_t)w;
    *height = (uint32_t)h;
    return FE_OK;
}

struct PngSource {
    const uint8_t *data;
    size_t size, offset;
    char text[256];
};

extern "C" void pngRead(png_structp png, png_bytep out, png_size_t length) {
    PngSource *source = (PngSource *)png_get_io_ptr(png);
    if (source->offset + length > source->size) png_error(png, "truncated PNG");
    std::memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

extern "C" void pngError(png_structp png, png_const_charp text) {
    PngSource *source = (PngSource *)png_get_io_ptr(png);
    if (source) std::snprintf(source->text, sizeof source->text, "%s", text);
    png_longjmp(png, 1);
}

extern "C" void pngWarning(png_structp, png_const_charp) {}

/* Any PNG colour type and depth to 8-bit RGB: palette expanded, grey replicated, 16-bit reduced to
   its high byte (not treated as linear light, which is what washes 16-bit photos out), alpha
   dropped as PIL's convert("RGB") does. */
fe_status decodePngRaw(const uint8_t *data, size_t size, int64_t maxPixels, uint8_t **pixels, uint32_t *width,
                       uint32_t *height, char *error, size_t errorSize) {
    PngSource source = {data, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, pngError, pngWarning);
    if (!png) return FE_ERR_INTERNAL;
    png_infop info = png_create_info_struct(png);
    volatile uint8_t *buffer = nullptr;
    volatile png_bytep *rows = nullptr;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
        std::free((void *)buffer);
        std::free((void *)rows);
        std::snprintf(error, errorSize, "undecodable PNG: %s", source.text[0] ? source.text : "error");
        return FE_ERR_CORRUPT_IMAGE;
    }
    png_set_read_fn(png, &source, pngRead);
    png_read_info(png, info);
    const uint64_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (maxPixels > 0 && w * h > (uint64_t)maxPixels) {
        png_destroy_read_struct(&png, &info, nullptr);
        std::snprintf(error, errorSize, "image has %llu pixels; the limit is %lld", (unsigned long long)(w * h),
                      (long long)maxPixels);
        return FE_ERR_IMAGE_TOO_LARGE;
    }
    const int colorType = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
    if (colorType == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (colorType == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (colorType == PNG_COLOR_TYPE_GRAY || colorType == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != w * 3) png_error(png, "unexpected PNG layout");
    buffer = (uint8_t *)std::malloc((size_t)w * h * 3);
    rows = (png_bytep *)std::malloc(sizeof(png_bytep) * (size_t)h);
    if (!buffer || !rows) png_error(png, "out of memory");
    for (size_t y = 0; y < h; y++) rows[y] = (uint8_t *)buffer + y * w * 3;
    png_read_image(png, (png_bytepp)rows);
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    std::free((void *)rows);
    *pixels = (uint8_t *)buffer;
    *width = (uint32_t)w;
    *height = (uint32_t)h;
    return FE_OK;
}

/* Applies an EXIF orientation so that the image is upright as a viewer shows it. */
Image orient(const uint8_t *rgb, long w, long h, int orientation) {
    const bool swap = orientation >= 5;
    Image out(swap ? w : h, swap ? h : w);
    for (long r = 0; r < out.nr(); r++) {
        for (long c = 0; c < out.nc(); c++) {
            long x, y;  // source column and row
            switch (orientation) {
            case 2: x = w - 1 - c; y = r; break;
            case 3: x = w - 1 - c; y = h - 1 - r; break;
            case 4: x = c; y = h - 1 - r; break;
            case 5: x = r; y = c; break;
            case 6: x = r; y = h - 1 - c; break;
            case 7: x = w - 1 - r; y = h - 1 - c; break;
            case 8: x = w - 1 - r; y = c; break;
            default: x = c; y = r; break;
            }
            const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            out(r, c) = rgb_pixel(p[0], p[1], p[2]);
        }
    }
    return out;
}

Image decode(const uint8_t *data, size_t size, int64_t maxPixels) {
    if (!data || size == 0) throw FaceError(FE_ERR_EMPTY_IMAGE, "the image is empty");
    char error[512] = {0};
    uint8_t *pixels = nullptr;
    uint32_t w = 0, h = 0;
    int orientation = 1;
    fe_status status;
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
        status = decodeJpegRaw(data, size, maxPixels, &pixels, &w, &h, &orientation, error, sizeof error);
    } else if (size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) {
        status = decodePngRaw(data, size, maxPixels, &pixels, &w, &h, error, sizeof error);
    } else {
        throw FaceError(FE_ERR_UNSUPPORTED_FORMAT, "not a JPEG or PNG image");
    }
    if (status != FE_OK) throw FaceError(status, error);
    std::unique_ptr<uint8_t, decltype(&std::free)> owner(pixels, &std::free);
    return orient(pixels, w, h, orientation);
}

// MARK: - Detection and description

struct Found {
    rectangle rect;  // dlib's rectangle (inclusive right/bottom), in image coordinates
    double score;
    int detector;
};

std::vector<Found> detectHOG(fe_engine &engine, const Image &img, int upsample) {
    // dlib's Python binding (run_detector_with_upsample): pyramid_up `upsample` times, detect,
    // map the rectangles back with rect_down.
    pyramid_down<2> pyr;
    std::vector<rect_detection> dets;
    if (upsample <= 0) {
        engine.hog(img, dets, 0.0);
    } else {
        array2d<rgb_pixel> temp;
        pyramid_up(img, temp, pyr);
        for (int level = 1; level < upsample; level++) pyramid_up(temp);
        engine.hog(temp, dets, 0.0);
        for (auto &d : dets) d.rect = pyr.rect_down(d.rect, (unsigned)upsample);
    }
    std::vector<Found> out;
    for (auto &d : dets) out.push_back({d.rect, d.detection_confidence, 0});
    return out;
}

std::vector<Found> detectCNN(fe_engine &engine, const Image &img, int upsample) {
    pyramid_down<2> pyr;
    Image up = img;
    for (int level = 0; level < upsample; level++) pyramid_up(up, pyr);
    std::vector<Found> out;
    // The MMOD network's pyramid throws on images a few pixels wide; nothing that small holds a face.
    if (up.nr() < 32 || up.nc() < 32) return out;
    for (auto &d : engine.cnn(up)) {
        out.push_back({pyr.rect_down(d.rect, (unsigned)std::max(0, upsample)), d.detection_confidence, 1});
    }
    return out;
}

std::vector<Found> detect(fe_engine &engine, const Image &img, const fe_options &o) {
    const long w = img.nc(), h = img.nr();
    const long longest = std::max(w, h);
    double scale = 1;
    const Image *source = &img;
    Image small;
    if (o.detection_max_side > 0 && longest > o.detection_max_side) {
        scale = (double)o.detection_max_side / (double)longest;
        small.set_size(std::max(1L, (long)(h * scale)), std::max(1L, (long)(w * scale)));
        resize_image(img, small, interpolate_bilinear());
        source = &small;
    }
    std::vector<Found> found = o.use_cnn ? detectCNN(engine, *source, o.upsample) : detectHOG(engine, *source, o.upsample);
    if (found.empty() && !o.use_cnn && o.cnn_fallback_max_pixels > 0 &&
        (int64_t)source->nr() * source->nc() <= o.cnn_fallback_max_pixels) {
        found = detectCNN(engine, *source, o.upsample);
    }
    if (scale != 1) {
        for (auto &f : found) {
            f.rect = rectangle((long)std::lround(f.rect.left() / scale), (long)std::lround(f.rect.top() / scale),
                               (long)std::lround(f.rect.right() / scale), (long)std::lround(f.rect.bottom() / scale));
        }
    }
    return found;
}

/* The image turned clockwise by `degrees` (90, 180 or 270). */
Image rotated(const Image &img, int degrees) {
    const long w = img.nc(), h = img.nr();
    Image out(degrees == 180 ? h : w, degrees == 180 ? w : h);
    for (long r = 0; r < out.nr(); r++)
        for (long c = 0; c < out.nc(); c++)
            out(r, c) = degrees == 90 ? img(h - 1 - c, r) : degrees == 270 ? img(c, w - 1 - r) : img(h - 1 - r, w - 1 - c);
    return out;
}

/* face_recognition's _trim_css_to_bounds: (top, right, bottom, left) clipped to [0, width] x [0, height]. */
fe_rect trim(const rectangle &r, long w, long h) {
    fe_rect out;
    out.top = (int32_t)std::max(r.top(), 0L);
    out.right = (int32_t)std::min(r.right(), w);
    out.bottom = (int32_t)std::min(r.bottom(), h);
    out.left = (int32_t)std::max(r.left(), 0L);
    return out;
}

void describe(fe_engine &engine, const Image &img, const fe_options &o, fe_face &face) {
    // face_recognition turns the trimmed css back into dlib.rectangle(left, top, right, bottom).
    const rectangle rect(face.box.left, face.box.top, face.box.right, face.box.bottom);
    const full_object_detection shape = engine.landmarks(img, rect);
    for (unsigned i = 0; i < 5 && i < shape.num_parts(); i++) {
        face.landmarks[2 * i] = (float)shape.part(i).x();
        face.landmarks[2 * i + 1] = (float)shape.part(i).y();
    }
    if (!o.describe) {
        std::memset(face.descriptor, 0, sizeof face.descriptor);
        return;
    }
    Image chip;
    extract_image_chip(img, get_face_chip_details(shape, 150, 0.25), chip);
    std::vector<Image> chips;
    if (o.jitters > 1) {
        for (int i = 0; i < o.jitters; i++) chips.push_back(jitter_image(chip, engine.jitterRandom));
    } else {
        chips.push_back(chip);
    }
    if (o.mirror) {
        const size_t n = chips.size();
        for (size_t i = 0; i < n; i++) chips.push_back(fliplr(chips[i]));
    }
    matrix<float, 0, 1> sum = zeros_matrix<float>(128, 1);
    for (auto &c : chips) sum += engine.net(c);  // one chip per call, as face_recognition does
    const matrix<float, 0, 1> mean = sum / (float)chips.size();
    for (long i = 0; i < 128; i++) face.descriptor[i] = mean(i);
}

fe_options defaults(const fe_options *o) {
    if (o) return *o;
    fe_options d;
    std::memset(&d, 0, sizeof d);
    d.upsample = 1;
    d.describe = 1;
    return d;
}

}  // namespace

// MARK: - C ABI

extern "C" fe_status fe_engine_create(const char *models_dir, fe_engine **out, char *message, size_t message_size) {
    if (!models_dir || !out) {
        copyMessage("models_dir and out are required", message, message_size);
        return FE_ERR_INVALID_ARGUMENT;
    }
    *out = nullptr;
    return guarded(message, message_size, [&] {
        openblas_set_num_threads(1);  // one engine per thread: BLAS must not spawn its own threads
        std::unique_ptr<fe_engine> engine(new fe_engine());
        const std::string dir(models_dir);
        auto load = [&](const char *file, auto &object) {
            const std::string path = dir + "/" + file;
            try {
                deserialize(path) >> object;
            } catch (const std::exception &) {
                throw FaceError(FE_ERR_MODEL, std::string("cannot load model ") + file + " from " + dir);
            }
        };
        load("shape_predictor_5_face_landmarks.dat", engine->landmarks);
        load("dlib_face_recognition_resnet_model_v1.dat", engine->net);
        load("mmod_human_face_detector.dat", engine->cnn);
        *out = engine.release();
    });
}

extern "C" void fe_engine_destroy(fe_engine *engine) { delete engine; }

extern "C" fe_status fe_engine_analyze(fe_engine *engine, const uint8_t *data, size_t size, const fe_options *options,
                                       fe_face *faces, size_t capacity, size_t *count, int32_t *width, int32_t *height,
                                       int32_t *rotation, char *message, size_t message_size) {
    if (!engine || !count || (capacity > 0 && !faces)) {
        copyMessage("engine, count and faces are required", message, message_size);
        return FE_ERR_INVALID_ARGUMENT;
    }
    *count = 0;
    return guarded(message, message_size, [&] {
        const fe_options o = defaults(options);
        Image img = decode(data, size, o.max_pixels);
        std::vector<Found> found = detect(*engine, img, o);
        int turned = 0;
        for (int degrees : {90, 270, 180}) {
            if (!found.empty() || !o.try_rotations) break;
            Image candidate = rotated(img, degrees);
            found = detect(*engine, candidate, o);
            if (!found.empty()) {
                img = std::move(candidate);
                turned = degrees;
            }
        }
        if (width) *width = (int32_t)img.nc();
        if (height) *height = (int32_t)img.nr();
        if (rotation) *rotation = turned;
        *count = found.size();
        for (size_t i = 0; i < found.size() && i < capacity; i++) {
            fe_face &face = faces[i];
            std::memset(&face, 0, sizeof face);
            face.box = trim(found[i].rect, img.nc(), img.nr());
            face.raw_box = {(int32_t)found[i].rect.left(), (int32_t)found[i].rect.top(), (int32_t)found[i].rect.right(),
                            (int32_t)found[i].rect.bottom()};
            face.score = found[i].score;
            face.detector = found[i].detector;
            describe(*engine, img, o, face);
        }
    });
}

extern "C" fe_status fe_engine_describe(fe_engine *engine, const uint8_t *data, size_t size, const fe_options *options,
                                        fe_face *faces, size_t count, char *message, size_t message_size) {
    if (!engine || (count > 0 && !faces)) {
        copyMessage("engine and faces are required", message, message_size);
        return FE_ERR_INVALID_ARGUMENT;
    }
    return guarded(message, message_size, [&] {
        fe_options o = defaults(options);
        o.describe = 1;
        const Image img = decode(data, size, o.max_pixels);
        for (size_t i = 0; i < count; i++) describe(*engine, img, o, faces[i]);
    });
}

extern "C" fe_status fe_image_decode(const uint8_t *data, size_t size, int64_t max_pixels, uint8_t **rgb, int32_t *width,
                                     int32_t *height, char *message, size_t message_size) {
    return guarded(message, message_size, [&] {
        if (!rgb || !width || !height) throw FaceError(FE_ERR_INVALID_ARGUMENT, "null output");
        const Image img = decode(data, size, max_pixels);
        auto *out = (uint8_t *)std::malloc((size_t)img.nr() * (size_t)img.nc() * 3);
        if (!out) throw std::bad_alloc();
        for (long r = 0; r < img.nr(); r++) {
            for (long c = 0; c < img.nc(); c++) {
                uint8_t *p = out + ((size_t)r * (size_t)img.nc() + (size_t)c) * 3;
                p[0] = img(r, c).red;
                p[1] = img(r, c).green;
                p[2] = img(r, c).blue;
            }
        }
        *rgb = out;
        *width = (int32_t)img.nc();
        *height = (int32_t)img.nr();
    });
}

extern "C" void fe_image_free(uint8_t *rgb) { std::free(rgb); }
