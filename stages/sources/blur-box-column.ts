// The blur-box column of a URL list (img2dataset's --bbox_col): boxes as fractions of the
// original image, [[x_min, y_min, x_max, y_max], ...], as a JSON string or a list. A malformed
// box list is an error for that row (reject `bad_blur_boxes`), never "no boxes": a privacy blur
// that silently does nothing is worse than a dropped sample. Decode blurs them (blur-boxes.ts).

/** Parsed boxes (a JSON string or a list, as list sources give them), or an error message. An absent or empty value is no boxes. */
export function parseBlurBoxes(value: unknown): { boxes: number[][] } | { error: string } {
  if (value === undefined || value === null || value === '') return { boxes: [] };
  let v: unknown = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return { error: `not JSON: ${clip(String(value))}` };
    }
  }
  if (!Array.isArray(v)) return { error: `expected a list of [x_min, y_min, x_max, y_max] boxes, got ${clip(JSON.stringify(value))}` };
  const boxes: number[][] = [];
  for (const box of v) {
    if (!Array.isArray(box) || box.length !== 4 || !box.every((c) => typeof c === 'number' && Number.isFinite(c))) {
      return { error: `box ${clip(JSON.stringify(box))} is not four numbers [x_min, y_min, x_max, y_max]` };
    }
    const [x0, y0, x1, y1] = box as number[];
    if (!(x0 >= 0 && y0 >= 0 && x1 <= 1 && y1 <= 1 && x0 <= x1 && y0 <= y1)) {
      return { error: `box [${box.join(', ')}] is not inside 0..1 with min <= max (boxes are fractions of the image)` };
    }
    boxes.push([x0, y0, x1, y1]);
  }
  return { boxes };
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
