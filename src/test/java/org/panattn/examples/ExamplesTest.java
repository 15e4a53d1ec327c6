package org.panattn.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.panattn.Backend;
import org.panattn.Tensor;
import org.panattn.layers.LayerOutput;

/** Runs every example and checks what it demonstrates. */
class ExamplesTest {

    @Test
    void encoderBlockIgnoresPadding() {
        try (Arena arena = Arena.ofConfined()) {
            LayerOutput y = EncoderSelfAttentionExample.run(arena);
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

    /** Prompts of 5, 1 and 7 tokens decode together, each row token for token as when decoded alone, on every backend. */
    @Test
    void batchedRaggedDecodingGeneratesWhatEachRowAloneGenerates() {
        List<List<Integer>> prompts = List.of(List.of(3, 1, 4, 1, 5), List.of(9), List.of(2, 6, 5, 3, 5, 8, 9));
        try (Arena arena = Arena.ofConfined()) {
            List<List<Integer>> first = null;
            for (Backend backend : Backend.values()) {
                List<List<Integer>> batched = BatchedDecodingExample.decode(arena, prompts, 8, backend);
                for (int r = 0; r < prompts.size(); r++) {
                    assertEquals(prompts.get(r).size() + 8, batched.get(r).size());
                    assertEquals(BatchedDecodingExample.decode(arena, List.of(prompts.get(r)), 8, backend).get(0),
                            batched.get(r), backend + ": row " + r + " batched vs alone");
                }
                assertEquals(first == null ? batched : first, batched, backend + " vs " + Backend.values()[0]);
                first = batched;
            }
            BatchedDecodingExample.main(new String[0]);
        }
    }

    @Test
    void selfAttentionWalkthroughGivesTheHandComputedValues() {
        // Worked by hand: keys (0,1,1) (4,4,0) (2,3,1); queries (1,0,2) (2,2,2) (2,1,3);
        // values (1,2,3) (2,8,0) (2,6,3); scores (2,4,4) (4,16,12) (4,12,10).
        float[][] expected = {{1.9366f, 6.6831f, 1.5951f}, {2.0000f, 7.9640f, 0.0540f}, {1.9997f, 7.7599f, 0.3584f}};
        float[] firstWeights = {0.0634f, 0.4683f, 0.4683f};
        try (Arena arena = Arena.ofConfined()) {
            Tensor[] r = SelfAttentionWalkthroughExample.run(arena);
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    assertEquals(expected[i][j], r[0].get(0, i, j), 1e-4f, "output " + (i + 1));
                }
                assertEquals(firstWeights[i], r[1].get(0, 0, i), 1e-4f, "weight " + i);
            }
            SelfAttentionWalkthroughExample.main(new String[0]);
        }
    }

    @Test
    void bahdanauStepIgnoresPaddingAndMixesEncoderStates() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor[] r = BahdanauStepExample.run(arena);
            for (int b = 0; b < 2; b++) {
                float sum = 0;
                for (int j = 0; j < 6; j++) {
                    sum += r[1].get(b, 0, j);
                }
                assertEquals(1f, sum, 1e-5f);
            }
            assertEquals(0f, r[1].get(1, 0, 4));
            assertEquals(0f, r[1].get(1, 0, 5));
            BahdanauStepExample.main(new String[0]);
        }
    }

    @Test
    void poolingClassifierFindsTheKeywordOutsidePadding() {
        try (Arena arena = Arena.ofConfined()) {
            for (Backend backend : Backend.values()) {
                boolean[] labels = PoolingClassifierExample.run(arena, backend);
                assertTrue(!labels[0] && labels[1] && !labels[2], backend + ": " + java.util.Arrays.toString(labels));
            }
            PoolingClassifierExample.main(new String[0]);
        }
    }
}
