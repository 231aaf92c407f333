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

/// The key of a PNG screenshot, or `None` when it is not a PNG we can read (8-bit RGB/RGBA,
/// as Chromium writes).
pub fn picture_key(png: &[u8]) -> Option<String> {
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
    let (w, h) = (info.width as usize, info.height as usize);
    if w == 0 || h == 0 {
        return None;
    }
    let mut sums = vec![0u64; GRID_W * GRID_H];
    let mut counts = vec![0u64; GRID_W * GRID_H];
    // Every other pixel of every other row: block averages need no more, and it is a quarter
    // of the work.
    for y in (0..h).step_by(2) {
        let row = &buf[y * info.line_size..y * info.line_size + w * channels];
        let gy = y * GRID_H / h;
        for x in (0..w).step_by(2) {
            let p = &row[x * channels..x * channels + channels];
            let grey = if channels >= 3 {
                (p[0] as u64 * 299 + p[1] as u64 * 587 + p[2] as u64 * 114) / 1000
            } else {
                p[0] as u64
            };
            let cell = gy * GRID_W + x * GRID_W / w;
            sums[cell] += grey;
            counts[cell] += 1;
        }
    }
    let mut grid = Vec::with_capacity(GRID_W * GRID_H + 16);
    grid.extend_from_slice(format!("{w}x{h}:").as_bytes());
    grid.extend(sums.iter().zip(&counts).map(|(s, c)| if *c == 0 { 0 } else { ((s / c) >> 4) as u8 }));
    Some(super::sha256_hex_bytes(&grid))
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
}
