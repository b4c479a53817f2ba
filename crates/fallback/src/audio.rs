//! Audio frames and the resampler that keeps a TTS adapter's output format constant across a switch.

/// Interleaved 16-bit PCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    /// Interleaved 16-bit samples.
    pub samples: Vec<i16>,
    /// Samples per second, per channel.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
}

impl AudioFrame {
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Streaming linear resampler and channel converter (mono ↔ stereo) for one audio stream. It carries
/// its position across frames, so frame boundaries don't click and the length is preserved.
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    channels_in: u16,
    channels_out: u16,
    /// Last input sample of each output channel (index -1 of the next frame).
    prev: Option<Vec<i16>>,
    /// Position of the next output sample, in input samples after `prev`.
    t: f64,
}

impl Resampler {
    /// Converts `from` Hz with `channels_in` channels to `to` Hz with `channels_out` channels.
    pub fn new(from: u32, channels_in: u16, to: u32, channels_out: u16) -> Self {
        Resampler {
            from: from.max(1),
            to: to.max(1),
            channels_in: channels_in.max(1),
            channels_out: channels_out.max(1),
            prev: None,
            t: 0.0,
        }
    }

    fn convert_channels(&self, samples: &[i16]) -> Vec<Vec<i16>> {
        let cin = usize::from(self.channels_in);
        let cout = usize::from(self.channels_out);
        let frames = samples.len() / cin;
        (0..cout)
            .map(|c| {
                (0..frames)
                    .map(|f| {
                        let frame = &samples[f * cin..f * cin + cin];
                        if cin == cout {
                            frame[c]
                        } else if cout == 1 {
                            (frame.iter().map(|s| i32::from(*s)).sum::<i32>() / cin as i32) as i16
                        } else {
                            frame[c.min(cin - 1)]
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Converts one frame; the output may be a sample shorter or longer than the exact ratio, the
    /// difference being carried to the next frame.
    pub fn process(&mut self, frame: &AudioFrame) -> AudioFrame {
        let channels = self.convert_channels(&frame.samples);
        let cout = usize::from(self.channels_out);
        if self.from == self.to {
            let n = channels.first().map_or(0, Vec::len);
            let mut samples = Vec::with_capacity(n * cout);
            for i in 0..n {
                for ch in &channels {
                    samples.push(ch[i]);
                }
            }
            return AudioFrame {
                samples,
                sample_rate: self.to,
                channels: self.channels_out,
            };
        }
        let step = f64::from(self.from) / f64::from(self.to);
        // Input of this call, with the previous frame's last sample in front.
        let buffers: Vec<Vec<i16>> = channels
            .iter()
            .enumerate()
            .map(|(c, ch)| {
                let mut b = Vec::with_capacity(ch.len() + 1);
                if let Some(prev) = &self.prev {
                    b.push(prev[c]);
                }
                b.extend_from_slice(ch);
                b
            })
            .collect();
        let len = buffers.first().map_or(0, Vec::len);
        let mut samples = Vec::new();
        let mut t = self.t;
        if len > 0 {
            while t <= (len - 1) as f64 {
                let i = t.floor() as usize;
                let frac = t - i as f64;
                for b in &buffers {
                    let a = f64::from(b[i]);
                    let z = f64::from(b[(i + 1).min(len - 1)]);
                    samples.push((a + (z - a) * frac).round().clamp(-32768.0, 32767.0) as i16);
                }
                t += step;
            }
            self.t = t - (len - 1) as f64;
            self.prev = Some(buffers.iter().map(|b| b[len - 1]).collect());
        }
        AudioFrame {
            samples,
            sample_rate: self.to,
            channels: self.channels_out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, frames: usize, channels: u16) -> AudioFrame {
        let samples = (0..frames)
            .flat_map(|i| {
                let v = ((i as f64 / rate as f64 * 440.0 * std::f64::consts::TAU).sin() * 10000.0)
                    as i16;
                std::iter::repeat_n(v, usize::from(channels))
            })
            .collect();
        AudioFrame {
            samples,
            sample_rate: rate,
            channels,
        }
    }

    #[test]
    fn resampling_preserves_length_across_frames() {
        let mut r = Resampler::new(16_000, 1, 48_000, 1);
        let mut out = 0;
        for _ in 0..50 {
            out += r.process(&tone(16_000, 320, 1)).frames();
        }
        // 50 × 20 ms at 16 kHz = 1 s → 48 000 samples at 48 kHz (±1 carried).
        assert!((47_998..=48_001).contains(&out), "{out}");
        let mut down = Resampler::new(48_000, 2, 16_000, 1);
        let f = down.process(&tone(48_000, 960, 2));
        assert_eq!((f.sample_rate, f.channels), (16_000, 1));
        assert!((319..=321).contains(&f.frames()), "{}", f.frames());
    }

    #[test]
    fn mono_to_stereo_duplicates_and_same_rate_passes_through() {
        let mut r = Resampler::new(24_000, 1, 24_000, 2);
        let f = r.process(&AudioFrame {
            samples: vec![1, 2, 3],
            sample_rate: 24_000,
            channels: 1,
        });
        assert_eq!(f.samples, [1, 1, 2, 2, 3, 3]);
    }
}
