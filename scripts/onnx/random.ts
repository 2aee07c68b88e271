// Moved to stages/score/onnx/random.ts (the runtime needs it); kept so old imports still work.
export * from '../../stages/score/onnx/random.ts';
