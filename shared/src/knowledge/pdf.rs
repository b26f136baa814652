//! Glyphs out of a PDF page: the content stream is run through the text
//! state machine of PDF 32000-1 §9 (`Tm`, `Td`/`TD`/`T*`, `TJ` offsets,
//! `Tc`/`Tw`/`Tz`/`Ts`, `cm`, `q`/`Q`, form XObjects), and every glyph
//! comes out with its device-space position and advance, computed from the
//! font's widths (`Widths`/`FirstChar`, a CID font's `W`/`DW`, a Type 3
//! font's `FontMatrix`). [`super::layout`] turns them into lines and words.
//!
//! Text is decoded by lopdf's font encodings, with `ToUnicode` preferred
//! when a font has one. Hostile input is bounded per page: each content
//! stream's decompressed size ([`MAX_CONTENT`]), the bytes and operators
//! run in all (forms drawn many times over count each time:
//! [`MAX_PAGE_BYTES`], [`MAX_PAGE_OPS`], [`MAX_PAGE_FORMS`]), XObject nesting
//! ([`MAX_FORM_DEPTH`]), glyphs ([`MAX_GLYPHS`]) and their text
//! ([`MAX_PAGE_TEXT`]), and the graphics-state stack ([`MAX_STACK`]). A page
//! past a bound is read up to it.

use std::collections::HashMap;

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

/// Form XObjects nested deeper than this are not read.
pub const MAX_FORM_DEPTH: usize = 8;
/// Glyphs kept per page; a page with more is read up to here.
pub const MAX_GLYPHS: usize = 2_000_000;
/// `q` nested deeper than this saves nothing more (its `Q` restores the last kept).
pub const MAX_STACK: usize = 256;
/// Decompressed bytes of one content stream.
pub const MAX_CONTENT: usize = 64 << 20;
/// Content bytes and operators run per page, forms included each time drawn.
pub const MAX_PAGE_BYTES: usize = 256 << 20;
pub const MAX_PAGE_OPS: usize = 5_000_000;
/// Form XObjects drawn per page (a form drawing forms drawing forms would
/// otherwise multiply the work at every level).
pub const MAX_PAGE_FORMS: usize = 10_000;
/// Bytes of decoded text kept per page.
pub const MAX_PAGE_TEXT: usize = 16 << 20;

/// One glyph on a page, in device space (PDF points, y up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glyph {
    /// Where its text starts and ends in [`PageGlyphs::text`].
    pub start: u32,
    pub end: u32,
    /// Origin (left end of the baseline) and the baseline's right end.
    pub x0: f32,
    pub x1: f32,
    pub y: f32,
    /// Font size and the width of the font's space, both in device units.
    pub size: f32,
    pub space: f32,
}

/// The glyphs of a page, in the order the content stream draws them.
#[derive(Debug, Default)]
pub struct PageGlyphs {
    pub text: String,
    pub glyphs: Vec<Glyph>,
}

impl PageGlyphs {
    pub fn glyph_text(&self, g: &Glyph) -> &str {
        &self.text[g.start as usize..g.end as usize]
    }

    /// Empties it for the next page, keeping its buffers.
    pub fn clear(&mut self) {
        self.text.clear();
        self.glyphs.clear();
    }
}

/// Appends a glyph's text: most are one ASCII byte, which a plain push
/// copies without calling `memcpy`.
pub(crate) fn push_text(to: &mut String, t: &str) {
    match t.as_bytes() {
        [b] => to.push(*b as char),
        _ => to.push_str(t),
    }
}

/// An affine matrix `[a b c d e f]`, row-vector convention as in the spec.
#[derive(Debug, Clone, Copy)]
struct Matrix([f64; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    /// `self × other`: apply `self`, then `other`.
    fn then(&self, o: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [oa, ob, oc, od, oe, of] = o.0;
        Matrix([
            a * oa + b * oc,
            a * ob + b * od,
            c * oa + d * oc,
            c * ob + d * od,
            e * oa + f * oc + oe,
            e * ob + f * od + of,
        ])
    }

    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let [a, b, c, d, e, f] = self.0;
        (x * a + y * c + e, x * b + y * d + f)
    }

    fn translate(tx: f64, ty: f64) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, tx, ty])
    }
}

/// Glyph widths of a font, in glyph space.
enum Widths {
    Simple { first: u32, widths: Vec<f64>, missing: f64 },
    Cid { default: f64, widths: HashMap<u32, f64> },
}

/// What the interpreter needs of a font.
struct Font<'a> {
    encoding: Option<Encoding<'a>>,
    /// Composite (Type 0) fonts use two-byte codes.
    two_byte: bool,
    widths: Widths,
    /// Glyph space to text space: 1/1000, or a Type 3 font's `FontMatrix`.
    scale: f64,
    /// The space's width in glyph space.
    space: f64,
    /// Decoded codes, so each code is decoded once per document: one-byte
    /// codes by index, two-byte ones by hash.
    bytes: Vec<Option<String>>,
    cache: HashMap<u32, String>,
}

impl Font<'_> {
    fn width(&self, code: u32) -> f64 {
        match &self.widths {
            Widths::Simple { first, widths, missing } => {
                code.checked_sub(*first).and_then(|i| widths.get(i as usize)).copied().unwrap_or(*missing)
            }
            Widths::Cid { default, widths } => widths.get(&code).copied().unwrap_or(*default),
        }
    }

    fn decode(&mut self, code: u32, bytes: &[u8]) -> &str {
        let encoding = &self.encoding;
        let decode = || match encoding {
            Some(enc) => enc.bytes_to_string(bytes).unwrap_or_default(),
            None => String::new(),
        };
        if self.two_byte {
            self.cache.entry(code).or_insert_with(decode)
        } else {
            self.bytes[code as usize & 0xff].get_or_insert_with(decode)
        }
    }
}

fn num(o: &Object) -> Option<f64> {
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(*r as f64),
        _ => None,
    }
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> &'a Object {
    doc.dereference(o).map(|(_, o)| o).unwrap_or(o)
}

fn dict_of<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    match deref(doc, o) {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

fn array_of<'a>(doc: &'a Document, o: &'a Object) -> &'a [Object] {
    match deref(doc, o) {
        Object::Array(a) => a,
        _ => &[],
    }
}

fn numbers(doc: &Document, o: &Object) -> Vec<f64> {
    array_of(doc, o).iter().map(|x| num(deref(doc, x)).unwrap_or(0.0)).collect()
}

/// A CID font's `W` array: `c [w1 w2 …]` or `c_first c_last w`, bounded.
fn cid_widths(doc: &Document, w: &[Object]) -> HashMap<u32, f64> {
    const MAX_ENTRIES: usize = 1 << 17;
    let mut out = HashMap::new();
    let mut i = 0;
    while i < w.len() && out.len() < MAX_ENTRIES {
        let Some(first) = num(deref(doc, &w[i])) else { break };
        match w.get(i + 1).map(|o| deref(doc, o)) {
            Some(Object::Array(list)) => {
                for (k, v) in list.iter().enumerate().take(MAX_ENTRIES) {
                    out.insert((first as u32).saturating_add(k as u32), num(deref(doc, v)).unwrap_or(0.0));
                }
                i += 2;
            }
            Some(last) => {
                let (Some(last), Some(width)) = (num(last), w.get(i + 2).and_then(|o| num(deref(doc, o)))) else {
                    break;
                };
                let (first, last) =
                    (first as u32, (last as u32).min((first as u32).saturating_add(MAX_ENTRIES as u32)));
                for c in first..=last {
                    out.insert(c, width);
                }
                i += 3;
            }
            None => break,
        }
    }
    out
}

fn font<'a>(doc: &'a Document, dict: &'a Dictionary, maps: &'a UnicodeMaps) -> Font<'a> {
    let subtype = dict.get(b"Subtype").and_then(Object::as_name).unwrap_or(b"");
    // A `ToUnicode` map says what the glyphs mean better than an encoding's
    // glyph names: lopdf reads it first when the font is given as one.
    let to_unicode = dict
        .get(b"ToUnicode")
        .ok()
        .and_then(|t| t.as_reference().ok())
        .and_then(|id| maps.by_id.get(&id))
        .map(|&i| &maps.fonts[i]);
    let encoding = to_unicode
        .and_then(|d| d.get_font_encoding_with_limit(doc, MAX_CONTENT).ok())
        .or_else(|| dict.get_font_encoding_with_limit(doc, MAX_CONTENT).ok());
    if subtype == b"Type0" {
        let descendant =
            dict.get(b"DescendantFonts").ok().and_then(|d| array_of(doc, d).first()).and_then(|d| dict_of(doc, d));
        let default = descendant.and_then(|d| d.get(b"DW").ok()).and_then(|o| num(deref(doc, o))).unwrap_or(1000.0);
        let widths =
            descendant.and_then(|d| d.get(b"W").ok()).map(|w| cid_widths(doc, array_of(doc, w))).unwrap_or_default();
        // Codes of a CID font say nothing of which glyph is a space: the
        // usual quarter em.
        let widths = Widths::Cid { default, widths };
        return Font {
            encoding,
            two_byte: true,
            widths,
            scale: 0.001,
            space: 250.0,
            bytes: Vec::new(),
            cache: HashMap::new(),
        };
    }
    let scale = if subtype == b"Type3" {
        dict.get(b"FontMatrix").ok().map(|m| numbers(doc, m)).and_then(|m| m.first().copied()).unwrap_or(0.001)
    } else {
        0.001
    };
    let first = dict.get(b"FirstChar").ok().and_then(|o| num(deref(doc, o))).unwrap_or(0.0).max(0.0) as u32;
    let widths = dict.get(b"Widths").ok().map(|w| numbers(doc, w)).unwrap_or_default();
    let missing = dict
        .get(b"FontDescriptor")
        .ok()
        .and_then(|d| dict_of(doc, d))
        .and_then(|d| d.get(b"MissingWidth").ok())
        .and_then(|o| num(deref(doc, o)))
        .filter(|w| *w > 0.0)
        // No widths at all (a standard-14 font): an average glyph.
        .unwrap_or(if widths.is_empty() { 0.5 / scale.abs().max(1e-9) } else { 0.0 });
    let widths = Widths::Simple { first, widths, missing };
    let mut f =
        Font { encoding, two_byte: false, widths, scale, space: 0.0, bytes: vec![None; 256], cache: HashMap::new() };
    let space = f.width(32);
    f.space = if space > 0.0 { space } else { 0.25 / scale.abs().max(1e-9) };
    f
}

/// `ToUnicode`-only copies of a document's simple fonts that have both an
/// encoding and a `ToUnicode` map (by the map's object), so that lopdf
/// decodes them by the map. Made once per document.
pub struct UnicodeMaps {
    fonts: Vec<Dictionary>,
    by_id: HashMap<ObjectId, usize>,
}

impl UnicodeMaps {
    pub fn new(doc: &Document) -> Self {
        let mut maps = UnicodeMaps { fonts: Vec::new(), by_id: HashMap::new() };
        for object in doc.objects.values() {
            let Ok(dict) = object.as_dict() else { continue };
            let simple =
                dict.has_type(b"Font") && dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Type0");
            let Some(id) = dict.get(b"ToUnicode").ok().and_then(|t| t.as_reference().ok()) else { continue };
            if simple && dict.has(b"Encoding") && !maps.by_id.contains_key(&id) {
                let mut d = Dictionary::new();
                d.set("Type", Object::Name(b"Font".to_vec()));
                d.set("ToUnicode", id);
                maps.by_id.insert(id, maps.fonts.len());
                maps.fonts.push(d);
            }
        }
        maps
    }
}

/// The fonts read so far, by their dictionary: each is read (its widths,
/// its `ToUnicode` map parsed) once per document, however many pages and
/// forms use it.
pub struct Fonts<'d> {
    doc: &'d Document,
    maps: &'d UnicodeMaps,
    loaded: HashMap<*const Dictionary, Font<'d>>,
}

impl<'d> Fonts<'d> {
    pub fn new(doc: &'d Document, maps: &'d UnicodeMaps) -> Self {
        Fonts { doc, maps, loaded: HashMap::new() }
    }

    /// The font named `name` in `resources` (nearest first).
    fn get(&mut self, resources: &[&'d Dictionary], name: &[u8]) -> Option<&mut Font<'d>> {
        let doc = self.doc;
        let dict = resources
            .iter()
            .filter_map(|r| r.get(b"Font").ok().and_then(|f| dict_of(doc, f)))
            .find_map(|fonts| fonts.get(name).ok().and_then(|f| dict_of(doc, f)))?;
        let maps = self.maps;
        Some(self.loaded.entry(dict as *const Dictionary).or_insert_with(|| font(doc, dict, maps)))
    }
}

/// The resource dictionaries of a page, nearest first.
fn page_resources(doc: &Document, page: ObjectId) -> Vec<&Dictionary> {
    let Ok((dict, ids)) = doc.get_page_resources(page) else { return Vec::new() };
    dict.into_iter().chain(ids.into_iter().filter_map(|id| doc.get_dictionary(id).ok())).collect()
}

/// Whether a page has reached a bound on what is kept or run.
fn full(out: &PageGlyphs, ops_left: usize) -> bool {
    out.glyphs.len() >= MAX_GLYPHS || out.text.len() >= MAX_PAGE_TEXT || ops_left == 0
}

#[derive(Clone)]
struct State {
    ctm: Matrix,
    font: Option<Vec<u8>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    h_scale: f64,
    leading: f64,
    rise: f64,
}

struct Run<'a, 'd> {
    doc: &'d Document,
    fonts: &'a mut Fonts<'d>,
    out: &'a mut PageGlyphs,
    /// What is left of [`MAX_PAGE_BYTES`] and [`MAX_PAGE_OPS`].
    bytes_left: usize,
    ops_left: usize,
    forms_left: usize,
    state: State,
    stack: Vec<State>,
    tm: Matrix,
    tlm: Matrix,
}

/// The glyphs of the page `page`, with the document's `fonts`, into `out`
/// (cleared first: one buffer serves every page of a document).
pub fn page_glyphs<'d>(
    doc: &'d Document,
    fonts: &mut Fonts<'d>,
    page: ObjectId,
    out: &mut PageGlyphs,
) -> lopdf::Result<()> {
    out.clear();
    let content = doc.get_page_content_with_limit(page, MAX_CONTENT)?;
    let resources = page_resources(doc, page);
    let state = State {
        ctm: Matrix::IDENTITY,
        font: None,
        size: 0.0,
        char_spacing: 0.0,
        word_spacing: 0.0,
        h_scale: 1.0,
        leading: 0.0,
        rise: 0.0,
    };
    let mut run = Run {
        doc,
        fonts,
        out,
        bytes_left: MAX_PAGE_BYTES,
        ops_left: MAX_PAGE_OPS,
        forms_left: MAX_PAGE_FORMS,
        state,
        stack: Vec::new(),
        tm: Matrix::IDENTITY,
        tlm: Matrix::IDENTITY,
    };
    run.stream(&content, &resources, 0)
}

impl<'d> Run<'_, 'd> {
    fn stream(&mut self, content: &[u8], resources: &[&'d Dictionary], depth: usize) -> lopdf::Result<()> {
        if content.len() > self.bytes_left {
            self.bytes_left = 0;
            return Ok(());
        }
        self.bytes_left -= content.len();
        // Text is most of a text page's content: room for it up front.
        let room = content.len().min(1 << 16);
        self.out.text.reserve(room);
        self.out.glyphs.reserve(room);
        let ops = Content::decode(content)?.operations;
        let n = |o: &[Object], i: usize| o.get(i).and_then(num).unwrap_or(0.0);
        for op in &ops {
            if full(self.out, self.ops_left) {
                break;
            }
            self.ops_left -= 1;
            let o = &op.operands;
            match op.operator.as_str() {
                "q" => {
                    if self.stack.len() < MAX_STACK {
                        self.stack.push(self.state.clone());
                    }
                }
                "Q" => {
                    if let Some(s) = self.stack.pop() {
                        self.state = s;
                    }
                }
                "cm" if o.len() == 6 => {
                    self.state.ctm = Matrix(std::array::from_fn(|i| n(o, i))).then(&self.state.ctm);
                }
                "BT" => {
                    self.tm = Matrix::IDENTITY;
                    self.tlm = Matrix::IDENTITY;
                }
                "Tf" => {
                    self.state.font = o.first().and_then(|f| f.as_name().ok()).map(<[u8]>::to_vec);
                    self.state.size = n(o, 1);
                }
                "Tc" => self.state.char_spacing = n(o, 0),
                "Tw" => self.state.word_spacing = n(o, 0),
                "Tz" => self.state.h_scale = n(o, 0) / 100.0,
                "TL" => self.state.leading = n(o, 0),
                "Ts" => self.state.rise = n(o, 0),
                "Td" => self.next_line(n(o, 0), n(o, 1)),
                "TD" => {
                    self.state.leading = -n(o, 1);
                    self.next_line(n(o, 0), n(o, 1));
                }
                "Tm" if o.len() == 6 => {
                    self.tm = Matrix(std::array::from_fn(|i| n(o, i)));
                    self.tlm = self.tm;
                }
                "T*" => self.next_line(0.0, -self.state.leading),
                "Tj" => self.show(resources, o.first()),
                "'" => {
                    self.next_line(0.0, -self.state.leading);
                    self.show(resources, o.first());
                }
                "\"" => {
                    self.state.word_spacing = n(o, 0);
                    self.state.char_spacing = n(o, 1);
                    self.next_line(0.0, -self.state.leading);
                    self.show(resources, o.get(2));
                }
                "TJ" => {
                    for item in o.first().and_then(|a| a.as_array().ok()).map(Vec::as_slice).unwrap_or(&[]) {
                        match num(item) {
                            Some(adjust) => {
                                let tx = -adjust / 1000.0 * self.state.size * self.state.h_scale;
                                self.tm = Matrix::translate(tx, 0.0).then(&self.tm);
                            }
                            None => self.show(resources, Some(item)),
                        }
                    }
                }
                "Do" if depth < MAX_FORM_DEPTH && self.forms_left > 0 => {
                    self.forms_left -= 1;
                    if let Some(name) = o.first().and_then(|f| f.as_name().ok()) {
                        self.form(name, resources, depth)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn next_line(&mut self, tx: f64, ty: f64) {
        self.tlm = Matrix::translate(tx, ty).then(&self.tlm);
        self.tm = self.tlm;
    }

    /// Runs a form XObject named `name` with its own matrix and resources.
    fn form(&mut self, name: &[u8], resources: &[&'d Dictionary], depth: usize) -> lopdf::Result<()> {
        let doc = self.doc;
        let Some(xobject) = resources
            .iter()
            .filter_map(|r| r.get(b"XObject").ok().and_then(|x| dict_of(doc, x)))
            .find_map(|x| x.get(name).ok())
        else {
            return Ok(());
        };
        let Ok(stream) = deref(doc, xobject).as_stream() else { return Ok(()) };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form") {
            return Ok(());
        }
        if stream.content.len() > self.bytes_left {
            self.bytes_left = 0;
            return Ok(());
        }
        let content = if stream.dict.has(b"Filter") {
            match stream.decompressed_content_with_limit(MAX_CONTENT) {
                Ok(c) => c,
                Err(_) => return Ok(()),
            }
        } else {
            stream.content.clone()
        };
        let own = stream.dict.get(b"Resources").ok().and_then(|r| dict_of(doc, r));
        let inner: Vec<&Dictionary> = own.into_iter().chain(resources.iter().copied()).collect();
        let saved = (self.state.clone(), self.tm, self.tlm);
        if let Some(m) = stream.dict.get(b"Matrix").ok().and_then(|m| <[f64; 6]>::try_from(numbers(doc, m)).ok()) {
            self.state.ctm = Matrix(m).then(&self.state.ctm);
        }
        let result = self.stream(&content, &inner, depth + 1);
        (self.state, self.tm, self.tlm) = saved;
        // A broken form loses its own text, not the page's.
        if let Err(e) = result {
            tracing::debug!(error = %e, "a form XObject could not be read");
        }
        Ok(())
    }

    /// Shows a string: one glyph per character code.
    fn show(&mut self, resources: &[&'d Dictionary], string: Option<&Object>) {
        let Some(Object::String(bytes, _)) = string else { return };
        let Some(name) = self.state.font.as_deref() else { return };
        let Some(font) = self.fonts.get(resources, name) else { return };
        let s = &self.state;
        // Text space to device space for this string; each glyph moves
        // the origin along its baseline by its advance `tx`.
        let m = Matrix([s.size * s.h_scale, 0.0, 0.0, s.size, 0.0, s.rise]).then(&self.tm).then(&s.ctm);
        let [a, b, c, d, ..] = m.0;
        let (size, scale) = ((c * c + d * d).sqrt(), (a * a + b * b).sqrt());
        let space = (font.space * font.scale * scale) as f32;
        let per_unit = 1.0 / (s.size * s.h_scale);
        let step = if font.two_byte { 2 } else { 1 };
        let (mut i, mut advanced) = (0, 0.0);
        while i + step <= bytes.len() && !full(self.out, self.ops_left) {
            let code_bytes = &bytes[i..i + step];
            let code = code_bytes.iter().fold(0u32, |acc, b| acc * 256 + *b as u32);
            i += step;
            let w0 = font.width(code) * font.scale;
            // In units of `m`'s first row: glyph space × font size × scale.
            let at = advanced * per_unit;
            let (x0, y) = m.apply(at, 0.0);
            let (x1, _) = m.apply(at + w0, 0.0);
            let start = self.out.text.len() as u32;
            push_text(&mut self.out.text, font.decode(code, code_bytes));
            self.out.glyphs.push(Glyph {
                start,
                end: self.out.text.len() as u32,
                x0: x0 as f32,
                x1: x1 as f32,
                y: y as f32,
                size: size as f32,
                space,
            });
            let word = if step == 1 && code == 32 { s.word_spacing } else { 0.0 };
            advanced += (w0 * s.size + s.char_spacing + word) * s.h_scale;
        }
        self.tm = Matrix::translate(advanced, 0.0).then(&self.tm);
    }
}

#[cfg(test)]
mod tests {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};

    use crate::knowledge::extract::{extract, DocType, Limits};

    /// A one-page PDF: a font with 500-unit glyphs (space 250), the page's
    /// operations, and the given form XObjects (name, operations).
    fn page_pdf(ops: Vec<Operation>, forms: Vec<(&str, Vec<Operation>)>) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let widths: Vec<Object> = (32..127).map(|c| if c == 32 { 250.into() } else { 500.into() }).collect();
        let font = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
        "FirstChar" => 32, "LastChar" => 126, "Widths" => widths, "Encoding" => "WinAnsiEncoding" });
        let fonts = dictionary! { "F1" => font };
        let mut xobjects = lopdf::Dictionary::new();
        for (name, ops) in forms {
            let body = Content { operations: ops }.encode().unwrap();
            let form = doc.add_object(Stream::new(
                dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 600.into(), 800.into()] },
                body,
            ));
            xobjects.set(name, form);
        }
        let resources = dictionary! { "Font" => fonts, "XObject" => xobjects };
        let content = doc.add_object(Stream::new(dictionary! {}, Content { operations: ops }.encode().unwrap()));
        let page = doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        "Resources" => resources });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 600.into(), 800.into()] }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut buf = Vec::new();
        doc.save_to(&mut buf).unwrap();
        buf
    }

    fn op(name: &str, operands: Vec<Object>) -> Operation {
        Operation::new(name, operands)
    }

    fn text_of(pdf: &[u8]) -> String {
        extract(pdf, DocType::Pdf, Limits::default()).unwrap().pages[0].text()
    }

    #[test]
    fn tj_offsets_make_spaces_between_words_and_none_inside_them() {
        let s = |t: &str| Object::string_literal(t);
        let ops = vec![
            op("BT", vec![]),
            op("Tf", vec!["F1".into(), 10.into()]),
            op("Td", vec![50.into(), 700.into()]),
            // Kerning inside words (-20, 30), a word gap of 300/1000 em.
            op(
                "TJ",
                vec![Object::Array(vec![
                    s("SYN"),
                    (-20).into(),
                    s("OPSIS"),
                    (-300).into(),
                    s("ssh"),
                    30.into(),
                    s("d"),
                ])],
            ),
            // A new line by Td, and one by Tm: no glued words across them.
            op("Td", vec![0.into(), (-14).into()]),
            op("Tj", vec![s("port")]),
            op("Tm", vec![1.into(), 0.into(), 0.into(), 1.into(), 50.into(), 672.into()]),
            op("Tj", vec![s("for")]),
            op("ET", vec![]),
        ];
        assert_eq!(text_of(&page_pdf(ops, vec![])), "SYNOPSIS sshd port for");
    }

    #[test]
    fn forms_drawing_forms_are_bounded_and_their_text_read() {
        // Each form draws the next 40 times, ten levels deep: 40^10 draws
        // without a bound.
        let mut forms = Vec::new();
        let names: Vec<String> = (0..10).map(|i| format!("X{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            let mut ops = vec![
                op("BT", vec![]),
                op("Tf", vec!["F1".into(), 10.into()]),
                op("Td", vec![50.into(), (700 - 12 * i as i64).into()]),
                op("Tj", vec![Object::string_literal(format!("level{i}"))]),
                op("ET", vec![]),
            ];
            if let Some(next) = names.get(i + 1) {
                ops.extend((0..40).map(|_| op("Do", vec![Object::Name(next.clone().into_bytes())])));
            }
            forms.push((name.as_str(), ops));
        }
        let pdf = page_pdf(vec![op("Do", vec!["X0".into()])], forms);
        let started = std::time::Instant::now();
        let text = text_of(&pdf);
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
        assert!(text.starts_with("level0") && text.contains("level1") && text.contains("level7"), "{}", &text[..80]);
    }
}
