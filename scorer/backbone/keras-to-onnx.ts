// Converts a Keras functional model (the topology JSON and weights of a TensorFlow.js export) into
// an ONNX graph with weft's own builder (onnx/graph.ts). It covers the layers of MobileNetV2:
// ZeroPadding2D (merged into the next convolution's pads), Conv2D and DepthwiseConv2D (kernels
// moved from Keras' HWIO to ONNX's OIHW), BatchNormalization (folded into the convolution before
// it), ReLU with max_value (Clip), Add, AveragePooling2D, Flatten, Dense (relu / softmax / linear)
// and Dropout (inference: identity). The graph runs in NCHW; Keras' channels_last input is taken as
// NCHW pixel_values, as every other weft image model.
import { GraphBuilder, attr } from '../onnx/graph.ts';

export interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: Array<Array<[string, number, number, unknown?]>>;
}

export interface KerasTopology {
  model_config: { config: { layers: KerasLayer[]; input_layers: Array<[string, number, number]>; output_layers: Array<[string, number, number]> } };
}

/** Weights by name (e.g. "Conv1/kernel"), with their Keras shapes. */
export type KerasWeights = Map<string, { shape: number[]; values: Float32Array }>;

export interface KerasConversion {
  /** Layer names whose outputs become extra graph outputs, with the output names to give them. */
  extraOutputs?: Record<string, string>;
  /** Name of the model output (the last layer); default "output". */
  outputName?: string;
  inputName?: string;
  doc?: string;
  metadata?: Record<string, string>;
}

interface Value {
  name: string;
  /** [channels, height, width], or [features] after Flatten / Dense. */
  shape: number[];
}

export function kerasToOnnx(topology: KerasTopology, weights: KerasWeights, o: KerasConversion = {}): Uint8Array {
  const { layers, input_layers: inputs, output_layers: outputs } = topology.model_config.config;
  if (inputs.length !== 1 || outputs.length !== 1) throw new Error(`keras model: ${inputs.length} inputs and ${outputs.length} outputs; one of each is supported`);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const consumers = new Map<string, string[]>();
  for (const l of layers) for (const [from] of l.inbound_nodes[0] ?? []) consumers.set(from, [...(consumers.get(from) ?? []), l.name]);
  const g = new GraphBuilder('keras_model');
  const values = new Map<string, Value>();
  const used = new Set<string>();
  const weight = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`keras model: no weight ${name}`);
    used.add(name);
    return w;
  };
  const input = (l: KerasLayer, k = 0) => {
    const from = l.inbound_nodes[0]?.[k]?.[0];
    const v = from === undefined ? undefined : values.get(from);
    if (!v) throw new Error(`keras layer ${l.name}: input ${from} is not computed yet`);
    return v;
  };
  /** Pads waiting for the convolution after a ZeroPadding2D: [top, left, bottom, right]. */
  const pendingPads = new Map<string, number[]>();

  for (const l of layers) {
    const c = l.config;
    switch (l.class_name) {
      case 'InputLayer': {
        const [, h, w, ch] = c.batch_input_shape as number[];
        const name = g.input(o.inputName ?? 'pixel_values', 'float32', ['batch_size', ch, h, w]);
        values.set(l.name, { name, shape: [ch, h, w] });
        break;
      }
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = c.padding as number[][];
        const next = consumers.get(l.name) ?? [];
        const v = input(l);
        if (next.length === 1 && /Conv2D$/.test(byName.get(next[0])!.class_name)) {
          pendingPads.set(next[0], [top, left, bottom, right]);
          values.set(l.name, { name: v.name, shape: [v.shape[0], v.shape[1] + top + bottom, v.shape[2] + left + right] });
        } else {
          const pads = g.int64Tensor([0, 0, top, left, 0, 0, bottom, right]);
          values.set(l.name, { name: g.op('Pad', [v.name, pads]), shape: [v.shape[0], v.shape[1] + top + bottom, v.shape[2] + left + right] });
        }
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const v = input(l);
        const depthwise = l.class_name === 'DepthwiseConv2D';
        const kernel = weight(`${l.name}/${depthwise ? 'depthwise_kernel' : 'kernel'}`);
        const [kh, kw, inC, outPer] = kernel.shape;
        const outC = depthwise ? inC * outPer : outPer;
        if (inC !== v.shape[0]) throw new Error(`keras layer ${l.name}: kernel takes ${inC} channels, input has ${v.shape[0]}`);
        // HWIO (or HW C M for depthwise) -> OIHW (O = C * M, I = 1 for depthwise).
        const oihw = new Float32Array(outC * (depthwise ? 1 : inC) * kh * kw);
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            for (let i = 0; i < inC; i++)
              for (let m = 0; m < outPer; m++) {
                const src = kernel.values[((y * kw + x) * inC + i) * outPer + m];
                const out = depthwise ? i * outPer + m : m;
                const inIndex = depthwise ? 0 : i;
                oihw[((out * (depthwise ? 1 : inC) + inIndex) * kh + y) * kw + x] = src;
              }
        let bias: Float32Array = c.use_bias ? Float32Array.from(weight(`${l.name}/bias`).values) : new Float32Array(outC);
        let w: Float32Array = oihw;
        const bn = (consumers.get(l.name) ?? []).map((n) => byName.get(n)!).find((n) => n.class_name === 'BatchNormalization');
        if (bn && consumers.get(l.name)!.length === 1) {
          ({ weight: w, bias } = foldBatchNorm(w, bias, outC, bn, weight));
        }
        const [sh, sw] = c.strides as number[];
        const [dh, dw] = (c.dilation_rate as number[] | undefined) ?? [1, 1];
        if (dh !== 1 || dw !== 1) throw new Error(`keras layer ${l.name}: dilation ${dh}x${dw} is not supported`);
        const extra = pendingPads.get(l.name) ?? [0, 0, 0, 0];
        const [, ih, iw] = v.shape;
        const pads = c.padding === 'same' ? samePads(ih - extra[0] - extra[2], iw - extra[1] - extra[3], kh, kw, sh, sw) : [0, 0, 0, 0];
        const total = pads.map((p, i) => p + extra[i]);
        const rawH = ih - extra[0] - extra[2] + total[0] + total[2];
        const rawW = iw - extra[1] - extra[3] + total[1] + total[3];
        const oh = Math.floor((rawH - kh) / sh) + 1;
        const ow = Math.floor((rawW - kw) / sw) + 1;
        const name = g.op('Conv', [v.name, g.floatTensor(w, [outC, depthwise ? 1 : inC, kh, kw]), g.floatTensor(bias, [outC])], {
          kernel_shape: attr.ints([kh, kw]),
          strides: attr.ints([sh, sw]),
          pads: attr.ints(total),
          group: attr.int(depthwise ? inC : 1),
        });
        const out = { name: activation(g, name, c.activation as string, l.name), shape: [outC, oh, ow] };
        values.set(l.name, out);
        if (bn && consumers.get(l.name)!.length === 1) values.set(bn.name, out);
        break;
      }
      case 'BatchNormalization':
        if (!values.has(l.name)) throw new Error(`keras layer ${l.name}: batch normalisation not after a convolution is not supported`);
        break;
      case 'ReLU': {
        const v = input(l);
        const max = c.max_value as number | null | undefined;
        if ((c.negative_slope as number) || (c.threshold as number)) throw new Error(`keras layer ${l.name}: leaky or thresholded ReLU is not supported`);
        const name = max == null ? g.op('Relu', [v.name]) : g.op('Clip', [v.name, g.floatTensor([0], []), g.floatTensor([max], [])]);
        values.set(l.name, { name, shape: v.shape });
        break;
      }
      case 'Add': {
        const parts = l.inbound_nodes[0].map((_, k) => input(l, k));
        const name = parts.slice(1).reduce((acc, p) => g.op('Add', [acc, p.name]), parts[0].name);
        values.set(l.name, { name, shape: parts[0].shape });
        break;
      }
      case 'AveragePooling2D': {
        const v = input(l);
        const [ph, pw] = c.pool_size as number[];
        const [sh, sw] = (c.strides as number[] | null) ?? [ph, pw];
        if (c.padding !== 'valid') throw new Error(`keras layer ${l.name}: average pooling with padding ${c.padding} is not supported`);
        const name = g.op('AveragePool', [v.name], { kernel_shape: attr.ints([ph, pw]), strides: attr.ints([sh, sw]) });
        values.set(l.name, { name, shape: [v.shape[0], Math.floor((v.shape[1] - ph) / sh) + 1, Math.floor((v.shape[2] - pw) / sw) + 1] });
        break;
      }
      case 'Flatten': {
        const v = input(l);
        // Keras flattens channels_last (h, w, c); same order as NCHW only when h = w = 1.
        const nhwc = v.shape.length === 3 && (v.shape[1] > 1 || v.shape[2] > 1) ? g.op('Transpose', [v.name], { perm: attr.ints([0, 2, 3, 1]) }) : v.name;
        const size = v.shape.reduce((a, b) => a * b, 1);
        values.set(l.name, { name: g.op('Reshape', [nhwc, g.int64Tensor([0, size])]), shape: [size] });
        break;
      }
      case 'Dense': {
        const v = input(l);
        const k = weight(`${l.name}/kernel`);
        const [inF, outF] = k.shape;
        if (v.shape.length !== 1 || v.shape[0] !== inF) throw new Error(`keras layer ${l.name}: kernel takes ${inF} features, input is [${v.shape}]`);
        let name = g.op('MatMul', [v.name, g.floatTensor(k.values, [inF, outF])]);
        if (c.use_bias) name = g.op('Add', [name, g.floatTensor(weight(`${l.name}/bias`).values, [outF])]);
        values.set(l.name, { name: activation(g, name, c.activation as string, l.name), shape: [outF] });
        break;
      }
      case 'Dropout':
        values.set(l.name, input(l));
        break;
      default:
        throw new Error(`keras layer ${l.name}: ${l.class_name} is not supported`);
    }
  }
  const last = values.get(outputs[0][0])!;
  const outputName = o.outputName ?? 'output';
  g.op('Identity', [last.name], {}, outputName);
  g.output(outputName, 'float32', ['batch_size', ...last.shape]);
  for (const [layer, name] of Object.entries(o.extraOutputs ?? {})) {
    const v = values.get(layer);
    if (!v) throw new Error(`keras model: no layer ${layer} to output`);
    g.op('Identity', [v.name], {}, name);
    g.output(name, 'float32', ['batch_size', ...v.shape]);
  }
  const unused = [...weights.keys()].filter((k) => !used.has(k));
  if (unused.length > 0) throw new Error(`keras model: weights not used by any layer: ${unused.slice(0, 5).join(', ')}`);
  return g.toModel({ doc: o.doc, metadata: o.metadata });
}

/** TensorFlow's "same" padding: the output is ceil(in / stride), extra padding at the end. */
function samePads(h: number, w: number, kh: number, kw: number, sh: number, sw: number): number[] {
  const total = (size: number, k: number, s: number) => Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
  const th = total(h, kh, sh);
  const tw = total(w, kw, sw);
  return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
}

/** conv(x) * s + (beta - mean * s) with s = gamma / sqrt(var + eps), per output channel. */
function foldBatchNorm(
  w: Float32Array,
  bias: Float32Array,
  outC: number,
  bn: KerasLayer,
  weight: (name: string) => { values: Float32Array },
): { weight: Float32Array; bias: Float32Array } {
  const eps = (bn.config.epsilon as number) ?? 1e-3;
  const gamma = bn.config.scale === false ? new Float32Array(outC).fill(1) : weight(`${bn.name}/gamma`).values;
  const beta = bn.config.center === false ? new Float32Array(outC) : weight(`${bn.name}/beta`).values;
  const mean = weight(`${bn.name}/moving_mean`).values;
  const variance = weight(`${bn.name}/moving_variance`).values;
  const per = w.length / outC;
  const folded = new Float32Array(w.length);
  const b = new Float32Array(outC);
  for (let o = 0; o < outC; o++) {
    const s = gamma[o] / Math.sqrt(variance[o] + eps);
    for (let i = 0; i < per; i++) folded[o * per + i] = w[o * per + i] * s;
    b[o] = (bias[o] - mean[o]) * s + beta[o];
  }
  return { weight: folded, bias: b };
}

function activation(g: GraphBuilder, x: string, kind: string | undefined, layer: string): string {
  switch (kind ?? 'linear') {
    case 'linear':
      return x;
    case 'relu':
      return g.op('Relu', [x]);
    case 'softmax':
      return g.op('Softmax', [x], { axis: attr.int(-1) });
    default:
      throw new Error(`keras layer ${layer}: activation ${kind} is not supported`);
  }
}
