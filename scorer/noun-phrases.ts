// Noun phrases of a caption, found by compromise's part-of-speech tagger: "a large red circle at
// the top left" gives "large red circle" and "top left". Each phrase is cut to its adjectives
// and nouns (determiners, trailing prepositional phrases and punctuation removed), lower-cased,
// and listed once, in caption order.
import nlp from 'compromise';

export function nounPhrases(caption: string, max = 8): string[] {
  const found: string[] = [];
  const doc = nlp(caption);
  doc.nouns().forEach((np) => {
    const core = np.match('#Adjective* #Noun+').eq(0);
    const text = (core.found ? core : np.not('#Determiner')).text('reduced').trim();
    if (text && !found.includes(text)) found.push(text);
  });
  return found.slice(0, max);
}
