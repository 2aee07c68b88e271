import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DelimitedParser, parseDelimited } from '../../../stages/sources/delimited.ts';

const fields = (text: string, delimiter = ',') => parseDelimited(text, delimiter).map((r) => r.fields);

test('plain records, with and without a final line break', () => {
  assert.deepEqual(fields('a,b\n1,2\n'), [['a', 'b'], ['1', '2']]);
  assert.deepEqual(fields('a,b\n1,2'), [['a', 'b'], ['1', '2']]);
  assert.deepEqual(fields('a,,c\n,,\n'), [['a', '', 'c'], ['', '', '']]);
});

test('quoted fields hold delimiters, doubled quotes and line breaks', () => {
  const text = 'id,caption\n1,"a cat, sleeping"\n2,"she said ""hi"""\n3,"two\nlines"\n4,"crlf\r\ninside"\n';
  assert.deepEqual(fields(text), [
    ['id', 'caption'],
    ['1', 'a cat, sleeping'],
    ['2', 'she said "hi"'],
    ['3', 'two\nlines'],
    ['4', 'crlf\r\ninside'],
  ]);
});

test('CRLF and CR line endings, a byte order mark and blank lines', () => {
  assert.deepEqual(fields('\ufeffa,b\r\n1,2\r\n\r\n3,4\r5,6\r\n'), [['a', 'b'], ['1', '2'], ['3', '4'], ['5', '6']]);
  // A quoted empty field on its own line is a record, not a blank line.
  assert.deepEqual(fields('a\n""\n\nb\n'), [['a'], [''], ['b']]);
});

test('records carry the line they start on', () => {
  const records = parseDelimited('h1,h2\n"multi\nline",x\n\nlast,y\n', ',');
  assert.deepEqual(records.map((r) => r.line), [1, 2, 5]);
});

test('lenient: quotes inside unquoted fields are literal, text after a closing quote is kept', () => {
  assert.deepEqual(fields('5" screen,x\n"ab"cd,y\n'), [['5" screen', 'x'], ['abcd', 'y']]);
});

test('an unterminated quote is reported with its starting line', () => {
  const records = parseDelimited('a,b\n1,"never closed\n2,3\n', ',');
  assert.equal(records.length, 2);
  assert.match(records[1].error ?? '', /unterminated quoted field starting on line 2/);
  assert.deepEqual(records[1].fields, ['1', 'never closed\n2,3\n']);
});

test('tab-separated text uses the same quoting', () => {
  assert.deepEqual(fields('url\tcaption\nx.jpg\t"tab\tinside"\ny.jpg\ta, b\n', '\t'), [
    ['url', 'caption'],
    ['x.jpg', 'tab\tinside'],
    ['y.jpg', 'a, b'],
  ]);
});

test('any split into chunks gives the same records as one string', () => {
  const text = '\ufeffid,caption\r\n1,"a ""quoted"", multi\r\nline"\r\n2,plain\r\n\r\n3,"x"\r\n';
  const whole = parseDelimited(text, ',');
  for (const size of [1, 2, 3, 5, 7]) {
    const parser = new DelimitedParser(',');
    const records = [];
    for (let i = 0; i < text.length; i += size) records.push(...parser.push(text.slice(i, i + size)));
    records.push(...parser.end());
    assert.deepEqual(records, whole, `chunk size ${size}`);
  }
  assert.deepEqual(whole.map((r) => r.fields), [['id', 'caption'], ['1', 'a "quoted", multi\r\nline'], ['2', 'plain'], ['3', 'x']]);
});

test('invalid delimiters are refused', () => {
  assert.throws(() => new DelimitedParser('"'), /invalid delimiter/);
  assert.throws(() => new DelimitedParser(',,'), /invalid delimiter/);
});
