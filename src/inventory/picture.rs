//! The identity of a screenshot: what it shows, not its bytes. Two renderings of an unchanged
//! page differ in a few anti-aliased pixels (rounded corners, rasterisation), so the bytes
//! would make every scan a new picture. The key is the SHA-256 of a coarse grey grid
//! ([`GRID_W`] × [`GRID_H`] block averages, 16 levels): the same for the same page, different
//! for a fake overlay or a replaced form.

use std::io::Cursor;

/// Blocks across and down.
const GRID_W: usize = 96;
const GRID_H: usize = 48;
/// Largest picture decoded (the capture keeps at most 4 MB of PNG; this bounds the pixels).
const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;

/// A decoded picture: 8-bit pixels, `channels` per pixel, rows `line_size` bytes apart.
struct Pixels {
    buf: Vec<u8>,
    width: usize,
    height: usize,
    channels: usize,
    line_size: usize,
}

impl Pixels {
    /// Decodes an 8-bit RGB/RGBA/grey PNG (as Chromium writes), bounded to
    /// [`MAX_DECODED_BYTES`]; `None` for anything else.
    fn decode(png: &[u8]) -> Option<Pixels> {
        let mut decoder = png::Decoder::new_with_limits(Cursor::new(png), png::Limits { bytes: MAX_DECODED_BYTES });
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().ok()?;
        let mut buf = vec![0; reader.output_buffer_size()?];
        let info = reader.next_frame(&mut buf).ok()?;
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Indexed => return None,
        };
        let (width, height) = (info.width as usize, info.height as usize);
        if width == 0 || height == 0 {
            return None;
        }
        Some(Pixels { buf, width, height, channels, line_size: info.line_size })
    }

    /// The pixel at (x, y) as RGB.
    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let at = y * self.line_size + x * self.channels;
        let p = &self.buf[at..at + self.channels];
        if self.channels >= 3 {
            [p[0], p[1], p[2]]
        } else {
            [p[0]; 3]
        }
    }
}

/// The key of a PNG screenshot, or `None` when it is not a PNG we can read (8-bit RGB/RGBA,
/// as Chromium writes).
pub fn picture_key(png: &[u8]) -> Option<String> {
    let (size, cells) = grid(&Pixels::decode(png)?);
    let mut bytes = size.into_bytes();
    bytes.extend(cells);
    Some(super::sha256_hex_bytes(&bytes))
}

/// Grid cells that may differ between two pictures that show the same page: 0.5 % of the grid.
/// A page's own data (the cart's lines and total, a date) changes a few cells (the volatile
/// test checkout: at most 13); a fake overlay, a second card form or a replaced payment frame
/// changes hundreds.
pub const SAME_PICTURE_CELLS: usize = GRID_W * GRID_H / 200;

/// Whether two screenshots show the same page: same size and at most [`SAME_PICTURE_CELLS`]
/// grid cells different. Such a picture is not stored again (the scan refers to the earlier
/// one) and is not shown as "looks different" beside the approved one.
pub fn same_picture(a: &[u8], b: &[u8]) -> bool {
    let (Some(a), Some(b)) = (Pixels::decode(a), Pixels::decode(b)) else { return false };
    let ((size_a, a), (size_b, b)) = (grid(&a), grid(&b));
    size_a == size_b && a.iter().zip(&b).filter(|(x, y)| x != y).count() <= SAME_PICTURE_CELLS
}

/// `"<w>x<h>:"` and the [`GRID_W`] × [`GRID_H`] block averages, 16 grey levels each.
fn grid(px: &Pixels) -> (String, Vec<u8>) {
    let (w, h) = (px.width, px.height);
    let mut sums = vec![0u64; GRID_W * GRID_H];
    let mut counts = vec![0u64; GRID_W * GRID_H];
    // Every other pixel of every other row: block averages need no more, and it is a quarter
    // of the work.
    for y in (0..h).step_by(2) {
        let gy = y * GRID_H / h;
        for x in (0..w).step_by(2) {
            let [r, g, b] = px.rgb(x, y);
            let grey = (r as u64 * 299 + g as u64 * 587 + b as u64 * 114) / 1000;
            let cell = gy * GRID_W + x * GRID_W / w;
            sums[cell] += grey;
            counts[cell] += 1;
        }
    }
    let cells = sums.iter().zip(&counts).map(|(s, c)| if *c == 0 { 0 } else { ((s / c) >> 4) as u8 }).collect();
    (format!("{w}x{h}:"), cells)
}

/// Pixels between the two pictures of [`side_by_side`], and the colour of the gap.
const GAP: usize = 24;
const GAP_RGB: [u8; 3] = [128, 128, 128];

/// One PNG with `left` and `right` next to each other (tops aligned, a grey gap between):
/// the approved payment page beside the current one, readable in any mail client. `None`
/// when either is not a picture we can read.
pub fn side_by_side(left: &[u8], right: &[u8]) -> Option<Vec<u8>> {
    let (l, r) = (Pixels::decode(left)?, Pixels::decode(right)?);
    let (width, height) = (l.width + GAP + r.width, l.height.max(r.height));
    if width * height * 3 > MAX_DECODED_BYTES {
        return None;
    }
    let mut data = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for (px, x0) in [(&l, 0), (&r, l.width + GAP)] {
            if x0 > 0 {
                (0..GAP).for_each(|_| data.extend_from_slice(&GAP_RGB));
            }
            for x in 0..px.width {
                data.extend_from_slice(&if y < px.height { px.rgb(x, y) } else { GAP_RGB });
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().ok()?;
    writer.write_image_data(&data).ok()?;
    writer.finish().ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, pixel: impl Fn(u32, u32) -> [u8; 3] + Copy) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().unwrap();
            let data: Vec<u8> = (0..h).flat_map(|y| (0..w).flat_map(move |x| pixel(x, y))).collect();
            writer.write_image_data(&data).unwrap();
        }
        out
    }

    #[test]
    fn anti_aliasing_noise_keeps_the_key_a_visible_change_does_not() {
        let page = |x: u32, y: u32| {
            if (200..800).contains(&x) && (170..214).contains(&y) {
                [255, 255, 255]
            } else {
                [245, 247, 246]
            }
        };
        let a = png(1366, 657, page);
        // A few corner pixels one or two levels off, as two renderings differ.
        let b = png(1366, 657, |x, y| {
            if (x == 200 || x == 201) && (172..176).contains(&y) {
                [243, 246, 245]
            } else {
                page(x, y)
            }
        });
        let overlay = png(1366, 657, |x, y| if y < 120 { [204, 0, 0] } else { page(x, y) });
        assert_ne!(a, b, "the bytes differ");
        assert_eq!(picture_key(&a), picture_key(&b));
        assert_ne!(picture_key(&a), picture_key(&overlay));
        assert_eq!(picture_key(b"not a png"), None);
    }

    #[test]
    fn a_changed_cart_line_is_the_same_picture_an_overlay_or_a_new_size_is_not() {
        let page =
            |x: u32, y: u32| if (200..800).contains(&x) && (170..214).contains(&y) { [255; 3] } else { [245; 3] };
        let a = png(1366, 657, page);
        // Another total in the cart: a 60 × 14 px block of "text" (about 8 cells).
        let cart =
            png(
                1366,
                657,
                |x, y| if (900..960).contains(&x) && (300..314).contains(&y) { [20; 3] } else { page(x, y) },
            );
        let overlay = png(1366, 657, |x, y| if y < 120 { [204, 0, 0] } else { page(x, y) });
        assert_ne!(picture_key(&a), picture_key(&cart), "the key sees the change");
        assert!(same_picture(&a, &cart), "but it is the same page");
        assert!(!same_picture(&a, &overlay));
        assert!(!same_picture(&a, &png(1366, 700, page)));
        assert!(!same_picture(&a, b"not a png"));
    }

    #[test]
    fn side_by_side_puts_both_pictures_next_to_each_other() {
        let red = png(40, 30, |_, _| [200, 0, 0]);
        let blue = png(50, 20, |_, _| [0, 0, 200]);
        let both = side_by_side(&red, &blue).expect("a picture");
        let px = Pixels::decode(&both).unwrap();
        assert_eq!((px.width, px.height), (40 + GAP + 50, 30));
        assert_eq!(px.rgb(0, 29), [200, 0, 0]);
        assert_eq!(px.rgb(40, 0), GAP_RGB);
        assert_eq!(px.rgb(40 + GAP, 0), [0, 0, 200]);
        assert_eq!(px.rgb(40 + GAP, 25), GAP_RGB, "below the shorter picture");
        assert_eq!(side_by_side(&red, b"not a png"), None);
    }
}
