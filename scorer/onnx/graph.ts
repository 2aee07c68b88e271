// A small builder for ONNX graphs on top of onnx-proto, so model export is our own code:
// declare inputs, add initialisers and nodes, mark outputs, then encode a ModelProto.
// Node output names are generated unless given, which keeps graph code short.
import p from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = p;
type INodeProto = OnnxTypes.INodeProto;
type ITensorProto = OnnxTypes.ITensorProto;
type IValueInfoProto = OnnxTypes.IValueInfoProto;
type IAttributeProto = OnnxTypes.IAttributeProto;

export type DType = 'float32' | 'int64' | 'int32' | 'bool';
/** A fixed size, or a symbolic name for a dynamic axis (e.g. 'batch_size'). */
export type Dim = number | string;

const ELEM_TYPE: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** Attribute values are tagged, because a JS number does not say whether it is an int or a float. */
export type Attr =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string };

export const attr = {
  int: (v: number): Attr => ({ int: v }),
  float: (v: number): Attr => ({ float: v }),
  ints: (v: number[]): Attr => ({ ints: v }),
  floats: (v: number[]): Attr => ({ floats: v }),
  string: (v: string): Attr => ({ string: v }),
};

function encodeAttr(name: string, a: Attr): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('int' in a) return { name, type: T.INT, i: a.int };
  if ('float' in a) return { name, type: T.FLOAT, f: a.float };
  if ('ints' in a) return { name, type: T.INTS, ints: a.ints };
  if ('floats' in a) return { name, type: T.FLOATS, floats: a.floats };
  return { name, type: T.STRING, s: new TextEncoder().encode(a.string) };
}

function valueInfo(name: string, dtype: DType, shape: Dim[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  // ONNX raw_data is little-endian, which is every platform Node runs on in practice.
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bit patterns of `values`, rounded to nearest even (overflow to infinity). */
export function toFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    let mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0); // infinity or NaN
      continue;
    }
    const e = exponent - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      // Subnormal in float16 (or zero): shift the mantissa with its implicit bit in.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mantissa |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let m = mantissa >>> shift;
      const rest = mantissa & ((1 << shift) - 1);
      if (rest > half || (rest === half && m & 1)) m++;
      out[i] = sign | m;
      continue;
    }
    let h = (e << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // a carry into the exponent is still right
    out[i] = sign | h;
  }
  return out;
}

/** The float32 values of binary16 bit patterns (exact). */
export function fromFloat16Bits(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) out[i] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) out[i] = mantissa ? NaN : sign * Infinity;
    else out[i] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

/** `values` as a half-stored tensor gives them back after its Cast. */
export function float16Rounded(values: Float32Array): Float32Array {
  return fromFloat16Bits(toFloat16Bits(values));
}

export interface ModelOptions {
  /** Default opset 13 (IR version 7), which every onnxruntime release since 1.7 runs. */
  opset?: number;
  producer?: string;
  doc?: string;
  /** Free-form key/value metadata stored in the model (e.g. training card summary). */
  metadata?: Record<string, string>;
}

export class GraphBuilder {
  private readonly nodes: INodeProto[] = [];
  private readonly initialisers: ITensorProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  /** Operator domains used besides the default one, with their opset versions. */
  private readonly domains = new Map<string, number>();
  private counter = 0;

  constructor(readonly name: string) {}

  private fresh(hint: string): string {
    let n: string;
    do n = `${hint}_${this.counter++}`;
    while (this.names.has(n));
    this.names.add(n);
    return n;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: value name ${name} is already used`);
    this.names.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), dtype, shape));
    return name;
  }

  /** Marks an existing value as a graph output under its own name. */
  output(name: string, dtype: DType, shape: Dim[]): void {
    if (!this.names.has(name)) throw new Error(`graph ${this.name}: output ${name} is not a value of the graph`);
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  floatTensor(data: Float32Array | number[], dims: number[], name?: string): string {
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    const count = dims.reduce((a, b) => a * b, 1);
    if (values.length !== count) throw new Error(`graph ${this.name}: tensor of ${values.length} values for dims [${dims}]`);
    const n = name ? this.claim(name) : this.fresh('const');
    this.initialisers.push({ name: n, dims, dataType: ELEM_TYPE.float32, rawData: bytesOf(values) });
    return n;
  }

  /**
   * A float32 value stored as float16 and cast back on load: half the bytes on disk for large
   * learned tables (the reference scorer's projection and embeddings), at about 3 significant
   * digits, which is below what its cosine scores resolve. onnxruntime folds the Cast once when
   * the session is created, so inference runs in float32 as before.
   */
  halfStoredFloatTensor(data: Float32Array, dims: number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) throw new Error(`graph ${this.name}: tensor of ${data.length} values for dims [${dims}]`);
    const n = this.fresh('const');
    this.initialisers.push({ name: n, dims, dataType: onnx.TensorProto.DataType.FLOAT16, rawData: bytesOf(toFloat16Bits(data)) });
    return this.op('Cast', [n], { to: attr.int(onnx.TensorProto.DataType.FLOAT) });
  }

  int64Tensor(data: number[], dims: number[] = [data.length], name?: string): string {
    const n = name ? this.claim(name) : this.fresh('const');
    const values = BigInt64Array.from(data.map((v) => BigInt(v)));
    this.initialisers.push({ name: n, dims, dataType: ELEM_TYPE.int64, rawData: bytesOf(values) });
    return n;
  }

  int32Tensor(data: number[], dims: number[] = [data.length], name?: string): string {
    const n = name ? this.claim(name) : this.fresh('const');
    this.initialisers.push({ name: n, dims, dataType: ELEM_TYPE.int32, rawData: bytesOf(Int32Array.from(data)) });
    return n;
  }

  /** Adds a node with one output; returns the output's name (`out` when given). */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string): string {
    return this.opN(opType, inputs, 1, attrs, out ? [out] : undefined)[0];
  }

  /** Adds a node of the ai.onnx.ml domain (opset 2), e.g. LabelEncoder. */
  mlOp(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string): string {
    this.domains.set('ai.onnx.ml', 2);
    return this.opN(opType, inputs, 1, attrs, out ? [out] : undefined, 'ai.onnx.ml')[0];
  }

  /** Adds a node with several outputs. */
  opN(opType: string, inputs: string[], outputCount: number, attrs: Record<string, Attr> = {}, outs?: string[], domain = ''): string[] {
    for (const i of inputs) {
      if (i !== '' && !this.names.has(i)) throw new Error(`graph ${this.name}: ${opType} reads unknown value ${i}`);
    }
    const outputs = outs ? outs.map((o) => this.claim(o)) : Array.from({ length: outputCount }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      domain,
      name: `${opType}_${this.nodes.length}`,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => encodeAttr(k, v)),
    });
    return outputs;
  }

  toModel(options: ModelOptions = {}): Uint8Array {
    const opset = options.opset ?? 13;
    const model = onnx.ModelProto.create({
      irVersion: opset >= 15 ? 8 : 7,
      opsetImport: [{ domain: '', version: opset }, ...[...this.domains].map(([domain, version]) => ({ domain, version }))],
      producerName: options.producer ?? 'weft',
      producerVersion: '1',
      docString: options.doc ?? '',
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initialisers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
