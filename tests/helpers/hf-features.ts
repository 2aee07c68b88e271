// What Hugging Face `datasets` makes of a `huggingface` features entry, written from its
// documented mapping (Features.arrow_schema; the Image and Audio storage types) without using
// weft's shard writer, so a test can compare it with the schema a shard really has.
// `Features.from_arrow_schema` keeps a feature only when the Arrow field it generates equals the
// stored field (name, type, nullability, children), so equality here is what keeps Image() an Image.
import type * as arrow from 'apache-arrow';

/** A field as pyarrow would print it: name, type name, nullability, child fields. */
export interface FieldShape {
  name: string;
  type: string;
  nullable: boolean;
  children: FieldShape[];
}

// datasets' Value dtype -> pyarrow type name (datasets.features.string_to_arrow).
const VALUE_TYPES: Record<string, string> = {
  string: 'string',
  large_string: 'large_string',
  binary: 'binary',
  bool: 'bool',
  int8: 'int8',
  int16: 'int16',
  int32: 'int32',
  int64: 'int64',
  uint8: 'uint8',
  uint16: 'uint16',
  uint32: 'uint32',
  uint64: 'uint64',
  float16: 'halffloat',
  float32: 'float',
  float: 'float',
  float64: 'double',
  double: 'double',
};

const leaf = (name: string, type: string): FieldShape => ({ name, type, nullable: true, children: [] });
const media = (name: string): FieldShape => ({ name, type: 'struct', nullable: true, children: [leaf('bytes', 'binary'), leaf('path', 'string')] });

/** The Arrow field `datasets` generates for feature `f` of column `name` (every field nullable). */
export function datasetsField(name: string, f: unknown): FieldShape {
  if (Array.isArray(f)) {
    // A Python list [feature]: pa.list_(feature), whose item field is "item".
    if (f.length !== 1) throw new Error(`${name}: a list feature holds exactly one feature`);
    return { name, type: 'list', nullable: true, children: [datasetsField('item', f[0])] };
  }
  if (!f || typeof f !== 'object') throw new Error(`${name}: not a feature: ${JSON.stringify(f)}`);
  const o = f as Record<string, unknown>;
  switch (o._type) {
    case undefined: // a dict of features: a struct, fields in key order
      return { name, type: 'struct', nullable: true, children: Object.entries(o).map(([k, v]) => datasetsField(k, v)) };
    case 'Value': {
      const t = VALUE_TYPES[String(o.dtype)];
      if (!t) throw new Error(`${name}: Value dtype ${String(o.dtype)} is not one datasets knows`);
      return leaf(name, t);
    }
    case 'Image':
    case 'Audio':
      return media(name);
    case 'Sequence': {
      if ((o.length ?? -1) !== -1) throw new Error(`${name}: fixed-length Sequence is not mapped here`);
      const inner = o.feature;
      // Sequence of a dict is datasets' struct of lists.
      if (inner && typeof inner === 'object' && !Array.isArray(inner) && (inner as Record<string, unknown>)._type === undefined) {
        return { name, type: 'struct', nullable: true, children: Object.entries(inner).map(([k, v]) => ({ ...datasetsField(k, [v]) })) };
      }
      return { name, type: 'list', nullable: true, children: [datasetsField('item', inner)] };
    }
    case 'List':
      return { name, type: 'list', nullable: true, children: [datasetsField('item', o.feature)] };
    case 'LargeList':
      return { name, type: 'large_list', nullable: true, children: [datasetsField('item', o.feature)] };
    default:
      throw new Error(`${name}: feature type ${String(o._type)} is not mapped here`);
  }
}

/**
 * The feature as datasets serialises it (its asdict drops fields left at their default, keeping
 * `_type`): Value -> {dtype, _type}; Image() / Audio() -> {_type}; Sequence -> {feature, _type}.
 */
export function datasetsSerialised(f: unknown): unknown {
  if (Array.isArray(f)) return f.map(datasetsSerialised);
  const o = f as Record<string, unknown>;
  switch (o._type) {
    case undefined:
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, datasetsSerialised(v)]));
    case 'Value':
      return { dtype: o.dtype, _type: 'Value' };
    case 'Image':
    case 'Audio':
      return { _type: o._type };
    case 'Sequence':
    case 'List':
    case 'LargeList':
      return { feature: datasetsSerialised(o.feature), _type: o._type };
    default:
      return o;
  }
}

// apache-arrow type -> pyarrow type name.
function typeName(t: arrow.DataType): string {
  const s = String(t);
  if (s.startsWith('Struct')) return 'struct';
  if (s.startsWith('List')) return 'list';
  const names: Record<string, string> = { Utf8: 'string', LargeUtf8: 'large_string', Binary: 'binary', Bool: 'bool', Int8: 'int8', Int16: 'int16', Int32: 'int32', Int64: 'int64', Uint8: 'uint8', Uint16: 'uint16', Uint32: 'uint32', Uint64: 'uint64', Float16: 'halffloat', Float32: 'float', Float64: 'double' };
  return names[s] ?? s;
}

/** A written field in the same shape. */
export function shapeOf(f: arrow.Field): FieldShape {
  return { name: f.name, type: typeName(f.type), nullable: f.nullable, children: (f.type.children ?? []).map(shapeOf) };
}
