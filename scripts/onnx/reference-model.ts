// Moved to stages/score/onnx/reference-model.ts (the runtime needs it); kept so old imports still work.
export * from '../../stages/score/onnx/reference-model.ts';
