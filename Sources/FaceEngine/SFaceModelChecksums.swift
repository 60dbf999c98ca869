/// The SHA-256 of the converted fp32 ONNX files `scripts/fetch-sface-models.sh` produces (pinned there too).
enum SFaceModelChecksums {
    static let detector = "bb591c3f79b4c4ea8592217d6bc3060fd89b17b96c08969a75630c006a468568"
    static let recognizer = "b4cfe2d233e126abc1925eded399f243566aa2de5d34927115cabe5fac1fa96c"
}
