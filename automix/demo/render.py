"""Score to audio for the demo dataset: Bach chorales from music21's corpus through a General-MIDI soundfont.

A song is an excerpt of one four-voice chorale (soprano, alto, tenor, bass) plus a drum pattern in the chorale's
meter. Each stem is rendered on its own synthesizer, so stems never bleed into each other. Everything here is
deterministic: the same notes, programs and tempo give the same samples.

music21 and the soundfont path are looked up lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automix.conventions import SAMPLE_RATE

VOICE_NAMES = ("soprano", "alto", "tenor", "bass")

# General-MIDI programs (0-based) that TimGM6mb renders well, per role.
VOCAL_PROGRAMS = (52, 53, 54)  # choir aahs, voice oohs, synth voice
BASS_PROGRAMS = (32, 33, 34, 35, 38)  # acoustic, fingered, picked, fretless, synth bass
HARMONY_PROGRAMS = (0, 4, 11, 16, 19, 24, 25, 48, 49)  # pianos, vibraphone, organs, guitars, strings
# The held-out variant's programs (``--held-out``): none of them in the sets above, none shared between roles. Each
# was checked on TimGM6mb over its role's range (after a +-5 semitone transposition): it sustains at the pitch played.
# Left out on purpose: Organ 3 (18, sounds an octave low), accordion (21, detuned), pizzicato (45, dies away at once).
HELD_OUT_VOCAL_PROGRAMS = (56, 64, 68, 71, 73, 85)  # trumpet, soprano sax, oboe, clarinet, flute, solo vox (lead)
HELD_OUT_BASS_PROGRAMS = (36, 37, 39, 43)  # slap basses 1 and 2, synth bass 2, contrabass
HELD_OUT_HARMONY_PROGRAMS = (1, 2, 5, 6, 20, 26, 27, 40, 41, 42, 46, 50, 51, 61)  # pianos 2/3, e-piano 2,
# harpsichord, reed organ, jazz and clean guitars, violin, viola, cello, harp, synth strings 1/2, brass section
DRUM_CHANNEL = 9  # GM channel 10
DRUM_KEYS = {"kick": 36, "snare": 38, "closed_hat": 42, "open_hat": 46, "ride": 51, "crash": 49}


@dataclass(frozen=True)
class Note:
    """One note event; times in quarter notes from the start of the excerpt (or of the score)."""

    onset_quarters: float
    duration_quarters: float
    key: int
    velocity: int = 90


@dataclass(frozen=True)
class Chorale:
    """The notes of one four-voice chorale and its meter.

    Attributes:
        chorale_id: file stem in music21's corpus, e.g. ``bwv269`` or ``bwv1.6``.
        parts: voice name -> notes sorted by onset (ties merged).
        length_quarters: length of the score; excerpts loop around it.
        bar_starts_quarters: onsets of the full-length bars (pickup bars excluded).
        bar_quarters: length of one bar; beats_per_bar, beat_quarters, beat_division: the meter
            (beat_division is 2 for simple and 3 for compound meters).
    """

    chorale_id: str
    parts: dict
    length_quarters: float
    bar_starts_quarters: tuple
    bar_quarters: float
    beats_per_bar: int
    beat_quarters: float
    beat_division: int
    time_signature: str


def soundfont_path() -> Path:
    """The General-MIDI soundfont bundled with pretty_midi (found without importing pretty_midi)."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise RuntimeError("pretty_midi is not installed: it provides the soundfont TimGM6mb.sf2")
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def chorale_paths() -> list[Path]:
    """All Bach files of music21's bundled corpus, sorted by name (not all are four-voice chorales)."""
    from music21 import corpus

    return sorted((Path(p) for p in corpus.getComposer("bach")), key=lambda p: p.name)


def load_chorale(path: Path) -> Chorale | None:
    """Parse a corpus file; None when it is not a plain Soprano/Alto/Tenor/Bass chorale."""
    from music21 import corpus

    score = corpus.parse(str(path), forceSource=True)  # no cache writes, same result in every process
    if tuple(p.partName for p in score.parts) != ("Soprano", "Alto", "Tenor", "Bass"):
        return None
    time_signature = score.recurse().getElementsByClass("TimeSignature").first()
    if time_signature is None:
        return None
    bar_quarters = float(time_signature.barDuration.quarterLength)
    measures = list(score.parts[0].getElementsByClass("Measure"))
    bar_starts = tuple(float(m.offset) for m in measures if float(m.duration.quarterLength) == bar_quarters)
    parts = {name: _part_notes(part) for name, part in zip(VOICE_NAMES, score.parts)}
    if not bar_starts or any(not notes for notes in parts.values()):
        return None
    return Chorale(
        chorale_id=path.stem,
        parts=parts,
        length_quarters=float(score.highestTime),
        bar_starts_quarters=bar_starts,
        bar_quarters=bar_quarters,
        beats_per_bar=int(time_signature.beatCount),
        beat_quarters=float(time_signature.beatDuration.quarterLength),
        beat_division=int(time_signature.beatDivisionCount),
        time_signature=time_signature.ratioString,
    )


def _part_notes(part) -> tuple:
    notes = []
    for element in part.stripTies().flatten().notes:
        for pitch in element.pitches:  # chorale voices are monophonic; a rare chord gives several notes
            notes.append(Note(float(element.offset), float(element.duration.quarterLength), int(pitch.midi)))
    return tuple(sorted(notes, key=lambda n: (n.onset_quarters, n.key)))


def excerpt_notes(notes, start_quarters: float, length_quarters: float, loop_quarters: float) -> list[Note]:
    """Notes starting in ``[start, start + length)`` of the score looped every ``loop_quarters``, shifted to 0."""
    excerpt = []
    n_loops = int(np.ceil((start_quarters + length_quarters) / loop_quarters)) + 1
    for loop in range(n_loops):
        for note in notes:
            onset = note.onset_quarters + loop * loop_quarters - start_quarters
            if 0.0 <= onset < length_quarters:
                excerpt.append(Note(onset, note.duration_quarters, note.key, note.velocity))
    return excerpt


def voice_coverage(notes, length_quarters: float) -> float:
    """Fraction of the excerpt during which the voice sounds (0..1); used to reject near-empty parts."""
    grid = np.zeros(max(1, int(round(length_quarters * 4))), dtype=bool)  # sixteenth-note grid
    for note in notes:
        start = int(note.onset_quarters * 4)
        grid[start : int(np.ceil((note.onset_quarters + note.duration_quarters) * 4))] = True
    return float(grid.mean())


def humanize(notes, velocity: int, rng: np.random.Generator, transpose: int = 0) -> list[Note]:
    """Give notes a base velocity with a little seeded jitter, and transpose them (semitones).

    Raises:
        ValueError: a transposed key falls outside MIDI's 0..127 (the synthesizer would drop it silently).
    """
    if notes and not (0 <= min(n.key for n in notes) + transpose and max(n.key for n in notes) + transpose <= 127):
        raise ValueError(f"transposing by {transpose} semitones takes notes outside MIDI keys 0..127")
    jitter = rng.integers(-8, 9, size=len(notes))
    return [
        Note(n.onset_quarters, n.duration_quarters, n.key + transpose, int(np.clip(velocity + j, 1, 127)))
        for n, j in zip(notes, jitter)
    ]


def drum_pattern(chorale: Chorale, length_quarters: float, style: str, rng: np.random.Generator) -> list[Note]:
    """A simple kit groove in the chorale's meter; the excerpt starts on a bar line.

    Kick on the first beat (and mid-bar in meters of 4 or 6 beats), snare on the odd beats (on all others in triple
    meter), a hi-hat
    (``style="hats"``) or ride (``style="ride"``) on every beat division, a crash on the first downbeat.
    """
    beats, division = chorale.beats_per_bar, chorale.beat_division
    step = chorale.beat_quarters / division
    cymbal = DRUM_KEYS["closed_hat"] if style == "hats" else DRUM_KEYS["ride"]
    notes = [Note(0.0, 1.0, DRUM_KEYS["crash"], 100)]
    n_bars = int(np.ceil(length_quarters / chorale.bar_quarters))
    for bar in range(n_bars):
        bar_start = bar * chorale.bar_quarters
        for beat in range(beats):
            onset = bar_start + beat * chorale.beat_quarters
            if beat == 0 or (beats >= 4 and beats % 2 == 0 and beat == beats // 2):
                notes.append(Note(onset, 0.5, DRUM_KEYS["kick"], 110))
            elif beat % 2 == 1 or beats == 3:
                notes.append(Note(onset, 0.5, DRUM_KEYS["snare"], 100))
            for sub in range(division):
                accent = 95 if sub == 0 else 70
                notes.append(Note(onset + sub * step, step, cymbal, accent))
        if style == "hats" and bar % 2 == 1:  # open hat at the end of every other bar
            notes.append(Note(bar_start + chorale.bar_quarters - step, step, DRUM_KEYS["open_hat"], 80))
    notes = [n for n in notes if n.onset_quarters < length_quarters]
    jitter = rng.integers(-10, 11, size=len(notes))  # keeps the accents, varies the hits a little
    return [Note(n.onset_quarters, n.duration_quarters, n.key, int(np.clip(n.velocity + j, 1, 127)))
            for n, j in zip(notes, jitter)]


def render_notes(tracks, seconds_per_quarter: float, n_samples: int, soundfont: bytes) -> np.ndarray:
    """Render notes on a fresh synthesizer.

    Args:
        tracks: list of ``(notes, program, is_drums)``; each track gets its own MIDI channel (drums on channel 10).
        seconds_per_quarter: tempo.
        n_samples: output length; notes still sounding at the end are cut.
        soundfont: the bytes of an .sf2 file.

    Returns:
        float32 audio, shape (n_samples, 2), at 44.1 kHz.
    """
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    soundfont_id = synth.sfload(soundfont)
    events = []  # (sample, order, channel, key, velocity); note-offs sort before note-ons at the same sample
    for index, (notes, program, is_drums) in enumerate(tracks):
        channel = DRUM_CHANNEL if is_drums else index
        synth.program_select(channel, soundfont_id, 128 if is_drums else 0, 0 if is_drums else program, is_drums)
        for note in notes:
            onset = int(round(note.onset_quarters * seconds_per_quarter * SAMPLE_RATE))
            offset = int(round((note.onset_quarters + note.duration_quarters) * seconds_per_quarter * SAMPLE_RATE))
            events.append((onset, 1, channel, note.key, note.velocity))
            events.append((max(offset - 1, onset + 1), 0, channel, note.key, 0))
    events.sort()
    audio = np.zeros((n_samples, 2), dtype=np.float32)
    position = 0
    for sample, is_on, channel, key, velocity in events:
        sample = min(sample, n_samples)
        if sample > position:
            audio[position:sample] = _generate(synth, sample - position)
            position = sample
        if sample >= n_samples:
            break
        if is_on:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    if position < n_samples:
        audio[position:] = _generate(synth, n_samples - position)
    return audio


def _generate(synth, n_samples: int) -> np.ndarray:
    return np.frombuffer(synth.generate_simple(n_samples), dtype=np.float32).reshape(n_samples, 2).copy()


def program_names(programs, soundfont: bytes) -> dict[int, str]:
    """Names of General-MIDI programs in a soundfont, e.g. ``{52: "Choir Aahs"}`` (``-1`` = the drum kit)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    soundfont_id = synth.sfload(soundfont)
    return {p: str(synth.sfpreset_name(soundfont_id, 128 if p < 0 else 0, max(p, 0))) for p in programs}
