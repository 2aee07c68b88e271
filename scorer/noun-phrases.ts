// Noun phrases of a caption, found by compromise's part-of-speech tagger: "a large red circle at
// the top left" gives "large red circle" and "top left". Each phrase is cut to its adjectives
// and nouns (determiners, trailing prepositional phrases and punctuation removed), lower-cased,
// and listed once, in caption order. Phrases that only say where ("the top left", "the right
// side", "the middle") or how the picture was taken ("a photo of") name no object, so they are
// not grounded: a box found for "the left" would be noise in the grounding recall.
import nlp from 'compromise';

/** Words of position, direction and framing; a phrase made of these alone names no object. */
const NOT_OBJECTS = new Set([
  'top', 'bottom', 'left', 'right', 'center', 'centre', 'middle', 'corner', 'corners', 'side', 'sides', 'edge', 'edges',
  'upper', 'lower', 'front', 'back', 'rear', 'background', 'foreground', 'near', 'far', 'above', 'below', 'inside', 'outside',
  'top-left', 'top-right', 'bottom-left', 'bottom-right', 'centre-left', 'centre-right', 'center-left', 'center-right', 'half', 'part',
  'position', 'place', 'area', 'photo', 'photograph', 'picture', 'image', 'shot', 'view', 'close-up', 'closeup', 'frame',
]);

/** Whether a phrase only says where something is (or that it is a picture), naming no object. */
export function isPositionalPhrase(phrase: string): boolean {
  const words = phrase.toLowerCase().split(/[\s,]+/).filter((w) => w && !['the', 'a', 'an', 'of', 'very', 'far'].includes(w));
  return words.length > 0 && words.every((w) => NOT_OBJECTS.has(w));
}

export function nounPhrases(caption: string, max = 8): string[] {
  const found: string[] = [];
  const doc = nlp(caption);
  doc.nouns().forEach((np) => {
    const core = np.match('#Adjective* #Noun+').eq(0);
    const text = (core.found ? core : np.not('#Determiner')).text('reduced').trim();
    if (text && !isPositionalPhrase(text) && !found.includes(text)) found.push(text);
  });
  return found.slice(0, max);
}
