/// Every failure FaceEngine reports, with a stable machine-readable code. Messages never carry
/// pixel or descriptor data.
public enum FaceEngineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A model file is missing or damaged.
    case modelUnavailable(file: String, reason: String)
    case emptyImage
    /// Not JPEG or PNG (GIF, WebP, BMP, text, ...).
    case unsupportedFormat
    /// A JPEG or PNG that cannot be decoded: truncated, damaged or malformed.
    case corruptImage(String)
    case imageTooLarge(String)
    case invalidArgument(String)
    case internalFailure(String)

    public var code: String {
        switch self {
        case .modelUnavailable: "model_unavailable"
        case .emptyImage: "empty_image"
        case .unsupportedFormat: "unsupported_format"
        case .corruptImage: "corrupt_image"
        case .imageTooLarge: "image_too_large"
        case .invalidArgument: "invalid_argument"
        case .internalFailure: "internal_error"
        }
    }

    public var description: String {
        switch self {
        case let .modelUnavailable(file, reason):
            "model \(file) unavailable (\(reason)); run `make setup` (scripts/fetch-models.sh, scripts/fetch-sface-models.sh) to restore it"
        case .emptyImage: "the image is empty"
        case .unsupportedFormat: "the image is not a JPEG or PNG"
        case let .corruptImage(why): why
        case let .imageTooLarge(why): why
        case let .invalidArgument(why): why
        case let .internalFailure(why): "face engine failure: \(why)"
        }
    }
}
