package org.panattn.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.panattn.Refusals.closed;
import static org.panattn.Refusals.closedArena;
import static org.panattn.Refusals.expect;
import static org.panattn.Refusals.expectOnOtherThread;
import static org.panattn.Refusals.on;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.panattn.Alibi;
import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.KvCache;
import org.panattn.Mask;
import org.panattn.Reference;
import org.panattn.RelativePositionBias;
import org.panattn.Rope;
import org.panattn.Tensor;

/**
 * The layers (MultiHeadAttention, EncoderDecoderAttention, AttentionPooling)
 * refuse bad sizes, weights and inputs by name on every backend; a refused
 * weight load changes nothing.
 */
class LayerValidationTest {
    private static final Class<IllegalArgumentException> IAE = IllegalArgumentException.class;
    private static final Class<IllegalStateException> ISE = IllegalStateException.class;
    private static final MultiHeadAttention.NeedWeights NONE = MultiHeadAttention.NeedWeights.NONE;

    @Test
    void multiHeadBuilderChecksSizesAndOverflow() {
        expect(IAE, "embedDim (10) must be a positive multiple of numHeads (3)", () -> MultiHeadAttention.builder(10, 3));
        expect(IAE, "embedDim (0) must be a positive multiple of numHeads (2)", () -> MultiHeadAttention.builder(0, 2));
        expect(IAE, "embedDim (8) must be a positive multiple of numHeads (-2)", () -> MultiHeadAttention.builder(8, -2));
        MultiHeadAttention.Builder b = MultiHeadAttention.builder(8, 4);
        expect(IAE, "numKvHeads (3) must divide numHeads (4)", () -> b.kvHeads(3));
        expect(IAE, "numKvHeads (0) must divide numHeads (4)", () -> b.kvHeads(0));
        expect(IAE, "kdim must be > 0, got 0", () -> b.kdim(0));
        expect(IAE, "vdim must be > 0, got -1", () -> b.vdim(-1));
        expect(IAE, "rope needs a finite base > 1 and a layout, got 1.0", () -> b.rope(1f, Rope.Layout.HALF));
        expect(IAE, "rope needs a finite base > 1 and a layout, got 10000.0, null", () -> b.rope(10000f, null));
        expect(IAE, "arena must not be null", () -> b.build(null));
        expect(ISE, "arena: it is closed", () -> b.build(closedArena()));
        try (Arena arena = Arena.ofConfined()) {
            expect(IAE, "embedDim: in_proj_weight's E + 2·kvDim rows overflow 64 bits",
                    () -> MultiHeadAttention.builder(1L << 62, 2).build(arena));
            expect(IAE, "in_proj_weight [6442450944, 2147483648]: element count overflows 64 bits",
                    () -> MultiHeadAttention.builder(1L << 31, 2).build(arena));
            expect(IAE, "q_proj_weight [2147483648, 2147483648]: byte size overflows 64 bits",
                    () -> MultiHeadAttention.builder(1L << 31, 2).kdim(3).build(arena));
        }
    }

    @Test
    void refusedWeightLoadsChangeNothing() {
        try (Arena arena = Arena.ofConfined()) {
            MultiHeadAttention packed = MultiHeadAttention.builder(8, 2).build(arena).initRandom(1);
            MultiHeadAttention separate = MultiHeadAttention.builder(8, 2).kvHeads(1).kdim(5).vdim(3).build(arena)
                    .initRandom(2);
            MultiHeadAttention biasFree = MultiHeadAttention.builder(8, 2).bias(false).build(arena).initRandom(3);
            float[] qBefore = packed.qProjWeight().toArray(), kBefore = separate.kProjWeight().toArray();
            float[] outBefore = packed.outProjWeight().toArray();
            expect(IAE, "in_proj_weight: expected 192 values, shape (24, 8), got null",
                    () -> packed.loadInProj(null, new float[24]));
            expect(IAE, "in_proj_weight: expected 192 values, shape (24, 8), got 191",
                    () -> packed.loadInProj(new float[191], new float[24]));
            // The weight is right and the bias wrong: neither is loaded.
            expect(IAE, "in_proj_bias: expected 24 values, shape (24), got null",
                    () -> packed.loadInProj(new float[192], null));
            expect(IAE, "in_proj_bias: this layer was built without biases",
                    () -> biasFree.loadInProj(new float[192], new float[24]));
            expect(ISE, "kdim/vdim differ from embedDim: load q/k/v projections with loadQkv",
                    () -> separate.loadInProj(new float[192], new float[24]));
            expect(IAE, "v_proj_weight: expected 12 values, shape (4, 3), got 13",
                    () -> separate.loadQkv(new float[64], new float[20], new float[13], new float[16]));
            expect(IAE, "k_proj_weight: expected 20 values, shape (4, 5), got 64",
                    () -> separate.loadQkv(new float[64], new float[64], new float[12], new float[16]));
            expect(IAE, "out_proj.bias: expected 8 values, shape (8), got 7",
                    () -> packed.loadOutProj(new float[64], new float[7]));
            expect(IAE, "out_proj.bias: this layer was built without biases",
                    () -> biasFree.loadOutProj(new float[64], new float[8]));
            MultiHeadAttention withBiasKv = MultiHeadAttention.builder(8, 2).kvHeads(1).addBiasKv(true).build(arena)
                    .initRandom(4);
            float[] biasKBefore = withBiasKv.biasK().toArray();
            expect(IAE, "bias_v: expected 4 values, shape (4), got 8",
                    () -> withBiasKv.loadBiasKv(new float[4], new float[8]));
            expect(IAE, "bias_k: expected 4 values, shape (4), got null", () -> withBiasKv.loadBiasKv(null, new float[4]));
            expect(ISE, "bias_k, bias_v: this layer was built without addBiasKv(true)",
                    () -> packed.loadBiasKv(new float[8], new float[8]));
            assertArrayEquals(biasKBefore, withBiasKv.biasK().toArray(), "bias_k after refused loads");
            assertArrayEquals(qBefore, packed.qProjWeight().toArray(), "in_proj_weight after refused loads");
            assertArrayEquals(kBefore, separate.kProjWeight().toArray(), "k_proj_weight after refused loads");
            assertArrayEquals(outBefore, packed.outProjWeight().toArray(), "out_proj.weight after refused loads");
            Arena layerArena = Arena.ofConfined();
            MultiHeadAttention dead = MultiHeadAttention.builder(8, 2).build(layerArena);
            layerArena.close();
            expect(ISE, "out_proj.weight: its arena is closed", () -> dead.loadOutProj(new float[64], new float[8]));
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void multiHeadForwardNamesEachBadInput(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(7);
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).kdim(5).vdim(3).build(arena).initRandom(7);
            Tensor query = Reference.random(arena, rnd, 2, 3, 8);
            Tensor key = Reference.random(arena, rnd, 2, 4, 5), value = Reference.random(arena, rnd, 2, 4, 3);
            AttentionSpec spec = on(backend);
            expect(IAE, "arena must not be null", () -> mha.forward(null, query, key, value, spec, NONE));
            expect(IAE, "spec must not be null", () -> mha.forward(arena, query, key, value, null, NONE));
            expect(IAE, "need must not be null", () -> mha.forward(arena, query, key, value, spec, null));
            expect(IAE, "query must not be null", () -> mha.forward(arena, null, key, value, spec, NONE));
            expect(IAE, "key must not be null", () -> mha.forward(arena, query, null, value, spec, NONE));
            expect(IAE, "value must not be null", () -> mha.forward(arena, query, key, null, spec, NONE));
            expect(ISE, "query: its arena is closed", () -> mha.forward(arena, closed(2, 3, 8), key, value, spec, NONE));
            expect(ISE, "value: its arena is closed", () -> mha.forward(arena, query, key, closed(2, 4, 3), spec, NONE));
            expect(ISE, "arena: it is closed", () -> mha.forward(closedArena(), query, key, value, spec, NONE));
            expect(IAE, "query: expected shape (B, L, 8), got (2, 3, 7)",
                    () -> mha.forward(arena, Tensor.allocate(arena, 2, 3, 7), key, value, spec, NONE));
            expect(IAE, "key: expected shape (B, L, 5), got (2, 1, 4, 5)",
                    () -> mha.forward(arena, query, key.unsqueeze(1), value, spec, NONE));
            expect(IAE, "value: expected shape (B, L, 3), got (2, 4, 5)",
                    () -> mha.forward(arena, query, key, key, spec, NONE));
            expect(IAE, "key and value: batch must be 2 like query, got 3 and 2",
                    () -> mha.forward(arena, query, Tensor.allocate(arena, 3, 4, 5), value, spec, NONE));
            expect(IAE, "value: length must be 4 like key, got 6",
                    () -> mha.forward(arena, query, key, Tensor.allocate(arena, 2, 6, 3), spec, NONE));
            expect(IAE, "query: the last dimension must be contiguous", () -> mha.forward(arena,
                    Tensor.allocate(arena, 2, 8, 3).permute(0, 2, 1), key, value, spec, NONE));
            expect(IAE, "spec.weights: MultiHeadAttention allocates the weights; use need", () -> mha.forward(arena,
                    query, key, value, spec.toBuilder().weights(Tensor.allocate(arena, 2, 2, 3, 4)).build(), NONE));
            expect(IAE, "mask: last dimension must be Lk = 4, got shape (1, 1, 3, 5)", () -> mha.forward(arena, query,
                    key, value, spec.toBuilder().mask(Mask.keep(arena, new boolean[15], 3, 5)).build(), NONE));
            expect(IAE, "keyPadding: shape (3, 1, 1, 4) does not broadcast|B must be 1 or 2", () -> mha.forward(arena,
                    query, key, value, spec.toBuilder().keyPadding(Mask.keyPadding(arena, new long[] {1, 2, 3}, 4))
                            .build(), NONE));
            if (backend == Backend.NATIVE) {
                Tensor heap = Tensor.wrap(MemorySegment.ofArray(query.toArray()), 2, 3, 8);
                expect(IAE, "query: the native backend needs off-heap memory",
                        () -> mha.forward(arena, heap, key, value, spec, NONE));
            }
            try (Arena shared = Arena.ofShared()) {
                Tensor sharedQuery = query.contiguous(shared);
                Tensor sharedKey = key.contiguous(shared), sharedValue = value.contiguous(shared);
                expectOnOtherThread(ISE, "query: its arena is confined to another thread",
                        () -> mha.forward(shared, query, sharedKey, sharedValue, spec, NONE));
                MultiHeadAttention sharedLayer = MultiHeadAttention.builder(8, 2).kdim(5).vdim(3).build(shared);
                expectOnOtherThread(ISE, "arena: it is confined to another thread", () -> sharedLayer.forward(arena,
                        sharedQuery, sharedKey, sharedValue, spec, NONE));
                // The layer itself lives in the confined arena: its weights cannot be read on the other thread.
                expectOnOtherThread(ISE, "the layer's weights: its arena is confined to another thread", () ->
                        mha.forward(shared, sharedQuery, sharedKey, sharedValue, spec, NONE));
            }
            Arena layerArena = Arena.ofConfined();
            MultiHeadAttention dead = MultiHeadAttention.builder(8, 2).build(layerArena);
            layerArena.close();
            expect(ISE, "the layer's weights: its arena is closed", () -> dead.forward(arena, query, spec, NONE));
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void forwardPackedAndAppendedKeysNameEachBadInput(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(8);
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).kvHeads(1).addBiasKv(true).addZeroAttn(true)
                    .build(arena).initRandom(8);
            Tensor x = Reference.random(arena, rnd, 2, 3, 8), qkv = Reference.random(arena, rnd, 2, 3, 16);
            AttentionSpec spec = on(backend);
            expect(IAE, "arena must not be null", () -> mha.forwardPacked(null, qkv, spec, NONE));
            expect(IAE, "spec must not be null", () -> mha.forwardPacked(arena, qkv, null, NONE));
            expect(IAE, "need must not be null", () -> mha.forwardPacked(arena, qkv, spec, null));
            expect(IAE, "qkv must not be null", () -> mha.forwardPacked(arena, null, spec, NONE));
            expect(ISE, "qkv: its arena is closed", () -> mha.forwardPacked(arena, closed(2, 3, 16), spec, NONE));
            expect(IAE, "qkv: expected shape (B, L, 16), got (2, 3, 24)",
                    () -> mha.forwardPacked(arena, Tensor.allocate(arena, 2, 3, 24), spec, NONE));
            expect(IAE, "qkv: the last dimension must be contiguous", () -> mha.forwardPacked(arena,
                    Tensor.allocate(arena, 2, 16, 3).permute(0, 2, 1), spec, NONE));
            expect(IAE, "spec.weights: MultiHeadAttention allocates the weights; use need", () -> mha.forwardPacked(
                    arena, qkv, spec.toBuilder().weights(Tensor.allocate(arena, 2, 2, 3, 5)).build(), NONE));
            // The appended keys extend the masks: one over other than the input's keys is refused first.
            expect(IAE, "spec.mask: expected shape (B|1, H|1, Lq|1, Lk) = (2|1, 2|1, 3|1, 3), got (1, 1, 3, 5)",
                    () -> mha.forward(arena, x, spec.toBuilder().mask(Mask.keep(arena, new boolean[15], 3, 5)).build(),
                            NONE));
            expect(IAE, "spec.mask: expected shape (B|1, H|1, Lq|1, Lk) = (2|1, 2|1, 3|1, 3), got (1, 1, 2, 3)",
                    () -> mha.forward(arena, x, spec.toBuilder().causal(Causal.TOP_LEFT)
                            .mask(Mask.keep(arena, new boolean[6], 2, 3)).build(), NONE));
            expect(IAE, "spec.keyPadding: expected shape (B|1, H|1, Lq|1, Lk) = (2|1, 2|1, 3|1, 3), got (2, 1, 1, 5)",
                    () -> mha.forward(arena, x, spec.toBuilder().keyPadding(Mask.keyPadding(arena, new long[2], 5))
                            .build(), NONE));
            expect(IAE, "spec.keyPadding: expected shape (B|1, H|1, Lq|1, Lk) = (2|1, 2|1, 3|1, 3), got (3, 1, 1, 3)",
                    () -> mha.forward(arena, x, spec.toBuilder().keyPadding(Mask.keyPadding(arena, new long[3], 3))
                            .build(), NONE));
            Arena maskArena = Arena.ofConfined();
            Mask dead = Mask.keep(maskArena, new boolean[9], 3, 3);
            maskArena.close();
            expect(ISE, "spec.mask: its arena is closed", () -> mha.forward(arena, x, spec.toBuilder().mask(dead)
                    .build(), NONE));
            expect(IAE, "spec.alibi: a positional bias needs every key's position", () -> mha.forward(arena, x,
                    spec.toBuilder().alibi(Alibi.slopes(arena, 2)).build(), NONE));
            expect(IAE, "spec.relativeBias: a positional bias needs every key's position", () -> mha.forward(arena, x,
                    spec.toBuilder().relativeBias(new RelativePositionBias(Tensor.allocate(arena, 32, 2),
                            true, 128)).build(), NONE));
            expect(ISE, "forwardCached: a layer with addBiasKv or addZeroAttn appends keys", () -> mha.forwardCached(
                    arena, x, KvCache.allocate(arena, 2, 1, 4, 4), spec));
            try (Arena shared = Arena.ofShared()) {
                MultiHeadAttention sharedLayer = MultiHeadAttention.builder(8, 2).addZeroAttn(true).build(shared);
                Tensor sharedX = x.contiguous(shared);
                Mask confined = Mask.keep(arena, new boolean[9], 3, 3);
                expectOnOtherThread(ISE, "spec.mask: its arena is confined to another thread", () -> sharedLayer
                        .forward(shared, sharedX, spec.toBuilder().mask(confined).build(), NONE));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void encoderDecoderStepNamesEachBadArgument(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(8);
            // Dq 4, Dk 3, Lv 5, Dv 6, output 2
            EncoderDecoderAttention step = new EncoderDecoderAttention(arena, 4, 3, 5, 6, 2).initRandom(8);
            Tensor q = Reference.random(arena, rnd, 2, 3, 4), k = Reference.random(arena, rnd, 2, 3, 3);
            Tensor v = Reference.random(arena, rnd, 2, 5, 6);
            AttentionSpec spec = on(backend);
            expect(IAE, "arena must not be null", () -> step.forward(null, q, k, v, spec));
            expect(IAE, "spec must not be null", () -> step.forward(arena, q, k, v, null));
            expect(IAE, "q must not be null", () -> step.forward(arena, null, k, v, spec));
            expect(IAE, "k must not be null", () -> step.forward(arena, q, null, v, spec));
            expect(IAE, "v must not be null", () -> step.forward(arena, q, k, null, spec));
            expect(ISE, "q: its arena is closed", () -> step.forward(arena, closed(2, 3, 4), k, v, spec));
            expect(ISE, "k: its arena is closed", () -> step.forward(arena, q, closed(2, 3, 3), v, spec));
            expectOnOtherThread(ISE, "q: its arena is confined to another thread",
                    () -> step.forward(Arena.ofAuto(), q, k, v, spec));
            expect(IAE, "q: expected shape (B, Lq, Dq) = (*, *, 4), got (2, 3, 5)",
                    () -> step.forward(arena, Tensor.allocate(arena, 2, 3, 5), k, v, spec));
            expect(IAE, "k: expected shape (B, Lq, Dk) = (2, 3, 3), one key per query, got (2, 3, 4)",
                    () -> step.forward(arena, q, Tensor.allocate(arena, 2, 3, 4), v, spec));
            expect(IAE, "v: expected shape (B, Lv, Dv) = (2, 5, 6), got (2, 4, 6)",
                    () -> step.forward(arena, q, k, Tensor.allocate(arena, 2, 4, 6), spec));
            expect(IAE, "spec.weights: EncoderDecoderAttention allocates the weights", () -> step.forward(arena, q, k,
                    v, spec.toBuilder().weights(Tensor.allocate(arena, 2, 3, 5)).build()));
            expect(IAE, "mask: last dimension must be Lk = 5, got shape (1, 1, 3, 4)", () -> step.forward(arena, q, k,
                    v, spec.toBuilder().mask(Mask.additive(Tensor.allocate(arena, 3, 4))).build()));
            if (backend == Backend.NATIVE) {
                expect(IAE, "q: the native backend needs off-heap memory", () -> step.forward(arena,
                        Tensor.wrap(MemorySegment.ofArray(q.toArray()), 2, 3, 4), k, v, spec));
            }
            Arena layerArena = Arena.ofConfined();
            EncoderDecoderAttention dead = new EncoderDecoderAttention(layerArena, 4, 3, 5, 6, 2);
            layerArena.close();
            expect(ISE, "the layer's weights: its arena is closed", () -> dead.forward(arena, q, k, v, spec));
        }
    }

    @Test
    void encoderDecoderSizesAndLoadsAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            expect(IAE, "sizes must be > 0|querySize 0", () -> new EncoderDecoderAttention(arena, 0, 3, 5, 6, 2));
            expect(IAE, "sizes must be > 0|outputSize -1", () -> new EncoderDecoderAttention(arena, 4, 3, 5, 6, -1));
            expect(IAE, "querySize + keySize and querySize + valueSize|must fit in 64 bits",
                    () -> new EncoderDecoderAttention(arena, Long.MAX_VALUE, 1, 1, 1, 1));
            expect(IAE, "attn.weight [4294967296, 4294967296]: element count overflows 64 bits",
                    () -> new EncoderDecoderAttention(arena, 1L << 31, 1L << 31, 1L << 32, 1, 1));
            expect(IAE, "arena must not be null", () -> new EncoderDecoderAttention(null, 4, 3, 5, 6, 2));
            expect(ISE, "arena: it is closed", () -> new EncoderDecoderAttention(closedArena(), 4, 3, 5, 6, 2));
            EncoderDecoderAttention step = new EncoderDecoderAttention(arena, 4, 3, 5, 6, 2).initRandom(9);
            // Random inputs, so the output depends on every weight and would show any of them reloaded.
            SplittableRandom rnd = new SplittableRandom(9);
            Tensor q = Reference.random(arena, rnd, 1, 2, 4), k = Reference.random(arena, rnd, 1, 2, 3);
            Tensor v = Reference.random(arena, rnd, 1, 5, 6);
            float[] before = step.forward(arena, q, k, v, AttentionSpec.DEFAULT).output().toArray();
            expect(IAE, "attn.bias: expected 5 values, shape (5), got 4",
                    () -> step.load(new float[35], new float[4], new float[20], new float[2]));
            expect(IAE, "attn_combine.bias: expected 2 values, shape (2), got null",
                    () -> step.load(new float[35], new float[5], new float[20], null));
            float[] after = step.forward(arena, q, k, v, AttentionSpec.DEFAULT).output().toArray();
            assertArrayEquals(before, after, "refused loads left the weights (and so the output) as they were");
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void attentionPoolingNamesEachBadArgument(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Reference.random(arena, new SplittableRandom(10), 2, 3, 4);
            AttentionPooling pool = AttentionPooling.random(arena, 4, 10);
            expect(IAE, "query: expected shape (D), got null", () -> new AttentionPooling(null));
            expect(IAE, "query: expected shape (D), got (2, 4)", () -> new AttentionPooling(Tensor.allocate(arena, 2, 4)));
            expect(IAE, "query: expected shape (D), got (0)", () -> new AttentionPooling(Tensor.allocate(arena, 0)));
            expect(IAE, "query: expected a contiguous vector (stride 1), got strides (2)", () -> new AttentionPooling(
                    Tensor.wrap(arena.allocate(32, 4), new long[] {4}, new long[] {2})));
            expect(IAE, "d must be 1 to 2147483639 (a Java array's length), got 0",
                    () -> AttentionPooling.random(arena, 0, 1));
            expect(IAE, "d must be 1 to 2147483639 (a Java array's length), got 4294967296",
                    () -> AttentionPooling.random(arena, 1L << 32, 1));
            expect(IAE, "arena must not be null", () -> pool.forward(null, x, null, backend));
            expect(IAE, "x must not be null", () -> pool.forward(arena, null, null, backend));
            expect(ISE, "arena: it is closed", () -> pool.forward(closedArena(), x, null, backend));
            expect(IAE, "x: expected shape (B, L, 4), got (2, 3, 5)",
                    () -> pool.forward(arena, Tensor.allocate(arena, 2, 3, 5), null, backend));
            expect(ISE, "x: its arena is closed", () -> pool.forward(arena, closed(2, 3, 4), null, backend));
            expect(ISE, "query: its arena is closed", () -> new AttentionPooling(closed(4)).forward(arena, x, null,
                    backend));
            expectOnOtherThread(ISE, "x: its arena is confined to another thread", () -> new AttentionPooling(
                    Tensor.allocate(Arena.ofAuto(), 4)).forward(Arena.ofAuto(), x, null, backend));
            expect(IAE, "keyPadding: shape (3, 1, 1, 3) does not broadcast|B must be 1 or 2", () -> pool.forward(arena,
                    x, Mask.keyPadding(arena, new long[] {1, 2, 3}, 3), backend));
            expect(IAE, "keyPadding: last dimension must be Lk = 3, got shape (2, 1, 1, 4)", () -> pool.forward(arena,
                    x, Mask.keyPadding(arena, new long[] {1, 2}, 4), backend));
            if (backend == Backend.NATIVE) {
                expect(IAE, "x: the native backend needs off-heap memory", () -> pool.forward(arena,
                        Tensor.wrap(MemorySegment.ofArray(x.toArray()), 2, 3, 4), null, backend));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void forwardCachedNamesACacheThatDoesNotFitTheLayer(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(3);
            MultiHeadAttention mha = MultiHeadAttention.builder(8, 2).build(arena).initRandom(3); // headDim 4
            Tensor x = Reference.random(arena, rnd, 2, 3, 8);
            AttentionSpec spec = on(backend);
            KvCache cache = KvCache.allocate(arena, 2, 2, 4, 4);
            mha.forwardCached(arena, Reference.random(arena, rnd, 2, 2, 8), cache, spec);
            float[] keys = cache.keys().toArray();
            expect(IAE, "arena must not be null", () -> mha.forwardCached(null, x, cache, spec));
            expect(IAE, "cache must not be null", () -> mha.forwardCached(arena, x, null, spec));
            expect(IAE, "spec must not be null", () -> mha.forwardCached(arena, x, cache, null));
            expect(IAE, "x must not be null", () -> mha.forwardCached(arena, null, cache, spec));
            expect(IAE, "x: expected shape (B, L, 8), got (2, 3, 4)",
                    () -> mha.forwardCached(arena, Tensor.allocate(arena, 2, 3, 4), cache, spec));
            expect(ISE, "x: its arena is closed", () -> mha.forwardCached(arena, closed(2, 3, 8), cache, spec));
            expect(IAE, "cache: expected keys and values (B, Hkv, maxLen, D) = (2, 2, *, 4), got (2, 1, 4, 4) and "
                    + "(2, 1, 4, 4)", () -> mha.forwardCached(arena, x, KvCache.allocate(arena, 2, 1, 4, 4), spec));
            expect(IAE, "cache: expected keys and values (B, Hkv, maxLen, D) = (2, 2, *, 4), got (2, 2, 4, 4) and "
                    + "(2, 2, 4, 5)", () -> mha.forwardCached(arena, x, KvCache.allocate(arena, 2, 2, 4, 4, 5), spec));
            expect(IAE, "cache: expected keys and values (B, Hkv, maxLen, D) = (2, 2, *, 4), got (1, 2, 4, 4)",
                    () -> mha.forwardCached(arena, x, KvCache.allocate(arena, 1, 2, 4, 4), spec));
            expect(ISE, "KV cache overflow: holds 2 of 4 tokens, cannot append 3",
                    () -> mha.forwardCached(arena, x, cache, spec));
            expect(ISE, "forwardCached needs kdim == vdim == embedDim", () -> MultiHeadAttention.builder(8, 2).kdim(4)
                    .build(arena).forwardCached(arena, x, cache, spec));
            Arena cacheArena = Arena.ofConfined();
            KvCache dead = KvCache.allocate(cacheArena, 2, 2, 4, 4);
            cacheArena.close();
            expect(ISE, "cache: its arena is closed", () -> mha.forwardCached(arena, x, dead, spec));
            assertEquals(2, cache.length(), "the refused step added no token");
            assertArrayEquals(keys, cache.keys().toArray(), "the refused step wrote no key");
            // Rows of different lengths have no one RoPE position.
            MultiHeadAttention rotary = MultiHeadAttention.builder(8, 2).rope(10000f, Rope.Layout.HALF).build(arena)
                    .initRandom(4);
            KvCache ragged = KvCache.allocate(arena, 2, 2, 4, 4);
            ragged.append(Reference.random(arena, rnd, 2, 2, 2, 4), Reference.random(arena, rnd, 2, 2, 2, 4),
                    new long[] {2, 1});
            Tensor step = Reference.random(arena, rnd, 2, 1, 8);
            expect(IAE, "cache: its batch rows hold different numbers of tokens, [2, 1]; a layer with RoPE needs one "
                    + "position for them all", () -> rotary.forwardCached(arena, step, ragged, spec));
            assertArrayEquals(new long[] {2, 1}, ragged.lengths(), "the refused step added no token");
        }
    }
}
