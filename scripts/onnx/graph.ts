// Moved to stages/score/onnx/graph.ts (the runtime needs it); kept so old imports still work.
export * from '../../stages/score/onnx/graph.ts';
