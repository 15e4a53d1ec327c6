package org.panattn.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.panattn.MultiHeadAttention;

/** Runs every example and checks what it demonstrates. */
class ExamplesTest {

    @Test
    void encoderBlockIgnoresPadding() {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention.Output y = EncoderSelfAttentionExample.run(arena);
            for (int i = 0; i < 5; i++) {
                float sum = 0;
                for (int j = 0; j < 5; j++) {
                    float w = y.weights().get(1, i, j);
                    if (j >= 3) {
                        assertEquals(0f, w, "padded key " + j);
                    }
                    sum += w;
                }
                assertEquals(1f, sum, 1e-5f);
            }
            EncoderSelfAttentionExample.main(new String[0]);
        }
    }

    @Test
    void eachTargetWordLooksAtItsSourceWord() {
        try (Arena arena = Arena.ofConfined()) {
            float[][] w = TranslationCrossAttentionExample.run(arena);
            for (int t = 0; t < w.length; t++) {
                int argmax = 0;
                for (int s = 1; s < w[t].length; s++) {
                    argmax = w[t][s] > w[t][argmax] ? s : argmax;
                }
                assertEquals(TranslationCrossAttentionExample.ALIGNED[t], argmax, "target word " + t);
                assertTrue(w[t][argmax] > 0.5f, "weight " + w[t][argmax]);
            }
            TranslationCrossAttentionExample.main(new String[0]);
        }
    }

    @Test
    void cachedDecodingGeneratesWhatFullRecomputationDoes() {
        try (Arena arena = Arena.ofConfined()) {
            List<Integer> prompt = List.of(1, 4, 2);
            List<Integer> cached = GreedyDecodingExample.decodeWithCache(arena, prompt, 8);
            assertEquals(11, cached.size());
            assertEquals(GreedyDecodingExample.decodeWithoutCache(arena, prompt, 8), cached);
            GreedyDecodingExample.main(new String[0]);
        }
    }
}
