// The SFace pipeline through OpenCV 4.6: YuNet (2023mar) run as a plain cv::dnn::Net and decoded here — OpenCV 4.6's
// FaceDetectorYN reads only the 2022 model's outputs — then cv::FaceRecognizerSF's alignCrop and feature.
//
// The decoding follows what OpenCV >= 4.8's FaceDetectorYN does with the 2023 model (modules/objdetect/src/
// face_detect.cpp): the input padded to a multiple of 32 at the bottom and right, a BGR float blob without scaling
// or mean; twelve outputs, cls/obj/bbox/kps at strides 8, 16 and 32; per grid cell a score sqrt(cls * obj), a box
// centred at (cell + offset) * stride with size exp(delta) * stride, five landmarks at (cell + offset) * stride; then
// non-maximum suppression.
//
// Same conventions as face_engine.cpp: every entry point catches every exception and returns an fe_status with a
// message that never holds pixel or embedding data.
#include "CFaceEngine.h"
#include "Guarded.hpp"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect/face.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct fe_sface {
    cv::dnn::Net detector;
    cv::Ptr<cv::FaceRecognizerSF> recognizer;
};

namespace {

using SFaceError = fe::Error;
using fe::guarded;

/// YuNet's output names, in the order the decoder reads them: cls, obj, bbox, kps, each at strides 8, 16, 32.
const std::vector<std::string> &outputNames() {
    static const std::vector<std::string> names = {"cls_8",  "cls_16",  "cls_32",  "obj_8", "obj_16", "obj_32",
                                                   "bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32"};
    return names;
}

constexpr int strides[3] = {8, 16, 32};

/// One candidate: x, y, w, h, 10 landmark coordinates, score — the row layout FaceRecognizerSF::alignCrop reads.
using Row = std::array<float, 15>;

std::vector<Row> detect(fe_sface &engine, const cv::Mat &bgr, const fe_sface_options &o) {
    // Detect on a downscaled copy when the image is large; boxes and landmarks are mapped back.
    double scale = 1.0;
    cv::Mat input = bgr;
    const int longest = std::max(bgr.cols, bgr.rows);
    if (o.detection_max_side > 0 && longest > o.detection_max_side) {
        scale = (double)o.detection_max_side / longest;
        cv::resize(bgr, input, cv::Size((int)std::lround(bgr.cols * scale), (int)std::lround(bgr.rows * scale)), 0, 0,
                   cv::INTER_LINEAR);
        scale = (double)input.cols / bgr.cols;
    }
    const int padW = ((input.cols - 1) / 32 + 1) * 32;
    const int padH = ((input.rows - 1) / 32 + 1) * 32;
    cv::Mat padded;
    cv::copyMakeBorder(input, padded, 0, padH - input.rows, 0, padW - input.cols, cv::BORDER_CONSTANT, 0);
    cv::Mat blob = cv::dnn::blobFromImage(padded);
    engine.detector.setInput(blob);
    std::vector<cv::Mat> outputs;
    engine.detector.forward(outputs, outputNames());
    if (outputs.size() != 12) throw SFaceError(FE_ERR_MODEL, "the detector did not give YuNet's twelve outputs");

    std::vector<Row> rows;
    std::vector<cv::Rect2d> boxes;
    std::vector<float> scores;
    for (int s = 0; s < 3; s++) {
        const int stride = strides[s];
        const int cols = padW / stride, gridRows = padH / stride;
        const size_t cells = (size_t)cols * (size_t)gridRows;
        const cv::Mat &cls = outputs[s], &obj = outputs[s + 3], &bbox = outputs[s + 6], &kps = outputs[s + 9];
        if (cls.total() < cells || obj.total() < cells || bbox.total() < cells * 4 || kps.total() < cells * 10)
            throw SFaceError(FE_ERR_MODEL, "a detector output is smaller than its grid");
        const float *clsV = cls.ptr<float>(), *objV = obj.ptr<float>(), *bboxV = bbox.ptr<float>(), *kpsV = kps.ptr<float>();
        for (int r = 0; r < gridRows; r++) {
            for (int c = 0; c < cols; c++) {
                const size_t i = (size_t)r * cols + c;
                const float score = std::sqrt(std::clamp(clsV[i], 0.f, 1.f) * std::clamp(objV[i], 0.f, 1.f));
                if (score < o.score_threshold) continue;
                const float cx = (c + bboxV[i * 4 + 0]) * stride, cy = (r + bboxV[i * 4 + 1]) * stride;
                const float w = std::exp(bboxV[i * 4 + 2]) * stride, h = std::exp(bboxV[i * 4 + 3]) * stride;
                Row row;
                row[0] = cx - w / 2.f;
                row[1] = cy - h / 2.f;
                row[2] = w;
                row[3] = h;
                for (int n = 0; n < 5; n++) {
                    row[4 + 2 * n] = (kpsV[i * 10 + 2 * n] + c) * stride;
                    row[4 + 2 * n + 1] = (kpsV[i * 10 + 2 * n + 1] + r) * stride;
                }
                row[14] = score;
                rows.push_back(row);
                boxes.emplace_back(row[0], row[1], row[2], row[3]);
                scores.push_back(score);
            }
        }
    }
    std::vector<int> keep;
    cv::dnn::NMSBoxes(boxes, scores, o.score_threshold, o.nms_threshold, keep);
    std::vector<Row> kept;
    for (int k : keep) {
        Row row = rows[(size_t)k];
        for (int j = 0; j < 14; j++) row[j] = (float)(row[j] / scale);
        kept.push_back(row);
    }
    std::stable_sort(kept.begin(), kept.end(), [](const Row &a, const Row &b) { return a[14] > b[14]; });
    return kept;
}

fe_sface_options defaults(const fe_sface_options *o) {
    if (o) return *o;
    return fe_sface_options{640, 0.6f, 0.3f, 1};
}

}  // namespace

extern "C" fe_status fe_sface_create(const char *detector_path, const char *recognizer_path, fe_sface **out, char *message,
                                     size_t message_size) {
    return guarded(message, message_size, [&] {
        if (!detector_path || !recognizer_path || !out) throw SFaceError(FE_ERR_INVALID_ARGUMENT, "null argument");
        auto engine = std::make_unique<fe_sface>();
        try {
            engine->detector = cv::dnn::readNetFromONNX(detector_path);
            engine->recognizer = cv::FaceRecognizerSF::create(recognizer_path, "");
        } catch (const cv::Exception &e) {
            throw SFaceError(FE_ERR_MODEL, std::string("cannot load the SFace models: ") + e.err);
        }
        if (engine->detector.empty() || !engine->recognizer) throw SFaceError(FE_ERR_MODEL, "cannot load the SFace models");
        // One thread per engine, as dlib's engines run OpenBLAS single-threaded: the pool gives the concurrency, and a
        // call's CPU time is its own. (Process-wide, like openblas_set_num_threads.)
        cv::setNumThreads(1);
        engine->detector.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        engine->detector.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        *out = engine.release();
    });
}

extern "C" void fe_sface_destroy(fe_sface *engine) { delete engine; }

extern "C" fe_status fe_sface_analyze(fe_sface *engine, const uint8_t *rgb, int32_t width, int32_t height,
                                      const fe_sface_options *options, fe_sface_face *faces, size_t capacity, size_t *count,
                                      char *message, size_t message_size) {
    return guarded(message, message_size, [&] {
        if (!engine || !rgb || !count || (capacity > 0 && !faces) || width <= 0 || height <= 0)
            throw SFaceError(FE_ERR_INVALID_ARGUMENT, "invalid argument");
        const fe_sface_options o = defaults(options);
        // OpenCV works in BGR: the network was trained on BGR input.
        const cv::Mat wrapped(height, width, CV_8UC3, const_cast<uint8_t *>(rgb));
        cv::Mat bgr;
        cv::cvtColor(wrapped, bgr, cv::COLOR_RGB2BGR);
        const std::vector<Row> found = detect(*engine, bgr, o);
        *count = found.size();
        for (size_t k = 0; k < found.size() && k < capacity; k++) {
            fe_sface_face &face = faces[k];
            std::memset(&face, 0, sizeof face);
            std::copy(found[k].begin(), found[k].begin() + 4, face.box);
            std::copy(found[k].begin() + 4, found[k].begin() + 14, face.landmarks);
            face.score = found[k][14];
            if (!o.describe) continue;
            const cv::Mat row(1, 15, CV_32F, const_cast<float *>(found[k].data()));
            cv::Mat aligned, feature;
            engine->recognizer->alignCrop(bgr, row, aligned);
            engine->recognizer->feature(aligned, feature);
            cv::Mat unit;
            cv::normalize(feature.reshape(1, 1), unit, 1.0, 0.0, cv::NORM_L2, CV_32F);
            if (unit.total() != 128) throw SFaceError(FE_ERR_MODEL, "the recognizer did not give 128 numbers");
            std::memcpy(face.embedding, unit.ptr<float>(), 128 * sizeof(float));
        }
    });
}
