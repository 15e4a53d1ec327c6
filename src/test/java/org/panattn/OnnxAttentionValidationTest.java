package org.panattn;

import static org.panattn.Refusals.assertUntouched;
import static org.panattn.Refusals.expect;
import static org.panattn.Refusals.sentinel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Each bad argument of {@link OnnxAttention} is refused by its ONNX name
 * with the expected shape, on every backend, and a refused call writes
 * none of its outputs.
 */
class OnnxAttentionValidationTest {
    private static final Class<IllegalArgumentException> BAD = IllegalArgumentException.class;

    @Test
    void badAttributesAreNamed() {
        OnnxAttention.Builder b = OnnxAttention.builder();
        expect(BAD, "qk_matmul_output_mode must be 0, 1, 2 or 3, got 4", () -> b.qkMatmulOutputMode(4));
        expect(BAD, "scale must be finite and > 0|got 0.0", () -> b.scale(0f));
        expect(BAD, "scale must be finite and > 0|got -1.0", () -> b.scale(-1f));
        expect(BAD, "scale must be finite and > 0|got NaN", () -> b.scale(Float.NaN));
        expect(BAD, "softcap must be finite and >= 0, got -1.0", () -> b.softcap(-1f));
        expect(BAD, "q_num_heads must be >= 1, got 0", () -> b.qNumHeads(0));
        expect(BAD, "kv_num_heads must be >= 1, got -2", () -> b.kvNumHeads(-2));
        expect(BAD, "softmax_precision must be a floating-point TensorProto type|1 (FLOAT)|got 6",
                () -> b.softmaxPrecision(6));
        expect(BAD, "attn_mask: expected 1 to 4 dimensions, got (1, 1, 1, 1, 2)",
                () -> OnnxAttention.AttnMask.keep(MemorySegment.ofArray(new byte[2]), 1, 1, 1, 1, 2));
        expect(BAD, "attn_mask: segment of 3 bytes is too small for shape (2, 2): needs 4",
                () -> OnnxAttention.AttnMask.keep(MemorySegment.ofArray(new byte[3]), 2, 2));
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void badInputsAreNamedWithTheirExpectedShape(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            // 4-D: B 2, Hq 4, Hkv 2, Lq 3, Lkv 5, D 8, Dv 6.
            Tensor q = Tensor.allocate(arena, 2, 4, 3, 8), k = Tensor.allocate(arena, 2, 2, 5, 8);
            Tensor v = Tensor.allocate(arena, 2, 2, 5, 6);
            Tensor y = sentinel(arena, 2, 4, 3, 6);
            OnnxAttention op = OnnxAttention.builder().backend(backend).build();
            expect(BAD, "Q must not be null", () -> op.run(null, k, v, null, null, null, null, y, null, null, null));
            expect(BAD, "Q: expected rank 4 (batch_size, q_num_heads, q_sequence_length, head_size) or rank 3|got "
                    + "shape (3, 8)", () -> op.run(Tensor.allocate(arena, 3, 8), k, v, null, null, null, null, y, null,
                    null, null));
            expect(BAD, "K: expected rank 4 like Q, got shape (2, 5, 16)", () -> op.run(q, Tensor.allocate(arena, 2, 5,
                    16), v, null, null, null, null, y, null, null, null));
            expect(BAD, "K: expected shape (batch_size, kv_num_heads, kv_sequence_length, head_size) = (2, *, *, 8), "
                    + "got (2, 2, 5, 7)", () -> op.run(q, Tensor.allocate(arena, 2, 2, 5, 7), v, null, null, null,
                    null, y, null, null, null));
            expect(BAD, "V: expected shape (batch_size, kv_num_heads, kv_sequence_length, v_head_size) = (2, 2, 5, *), "
                    + "got (2, 2, 4, 6)", () -> op.run(q, k, Tensor.allocate(arena, 2, 2, 4, 6), null, null, null,
                    null, y, null, null, null));
            expect(BAD, "q_num_heads (4) must be a multiple of kv_num_heads (3)", () -> op.run(q,
                    Tensor.allocate(arena, 2, 3, 5, 8), Tensor.allocate(arena, 2, 3, 5, 6), null, null, null, null, y,
                    null, null, null));
            expect(BAD, "q_num_heads (8) does not match Q's 4 heads", () -> op.toBuilder().qNumHeads(8).build()
                    .run(q, k, v, null, null, null, null, y, null, null, null));
            expect(BAD, "kv_num_heads (1) does not match K's 2 heads", () -> op.toBuilder().kvNumHeads(1).build()
                    .run(q, k, v, null, null, null, null, y, null, null, null));
            expect(BAD, "Q: the last dimension must be contiguous", () -> op.run(Tensor.allocate(arena, 2, 4, 8, 3)
                    .permute(0, 1, 3, 2), k, v, null, null, null, null, y, null, null, null));

            Tensor pk = Tensor.allocate(arena, 2, 2, 4, 8), pv = Tensor.allocate(arena, 2, 2, 4, 6);
            expect(BAD, "past_key: given without past_value; past_key and past_value go together",
                    () -> op.run(q, k, v, null, pk, null, null, y, null, null, null));
            expect(BAD, "past_value: given without past_key", () -> op.run(q, k, v, null, null, pv, null, y, null,
                    null, null));
            expect(BAD, "past_key: expected shape (batch_size, kv_num_heads, past_sequence_length, head_size) = "
                    + "(2, 2, *, 8), got (2, 1, 4, 8)", () -> op.run(q, k, v, null, Tensor.allocate(arena, 2, 1, 4, 8),
                    pv, null, y, null, null, null));
            expect(BAD, "past_value: expected shape (batch_size, kv_num_heads, past_sequence_length, v_head_size) = "
                    + "(2, 2, 4, 6), got (2, 2, 3, 6)", () -> op.run(q, k, v, null, pk,
                    Tensor.allocate(arena, 2, 2, 3, 6), null, y, null, null, null));

            expect(BAD, "nonpad_kv_seqlen: cannot be combined with past_key and past_value",
                    () -> op.run(q, k, v, null, pk, pv, new long[] {1, 2}, y, null, null, null));
            expect(BAD, "nonpad_kv_seqlen: expected shape (batch_size) = (2), got (3)",
                    () -> op.run(q, k, v, null, null, null, new long[] {1, 2, 3}, y, null, null, null));
            expect(BAD, "nonpad_kv_seqlen[1] = 6, expected 0 to kv_sequence_length = 5",
                    () -> op.run(q, k, v, null, null, null, new long[] {1, 6}, y, null, null, null));

            expect(BAD, "attn_mask: shape (3, 10) does not fit (batch_size, q_num_heads, q_sequence_length, "
                    + "total_sequence_length) = (2, 4, 3, 9): its last dimension must be at most total_sequence_length"
                    + " = past_sequence_length + kv_sequence_length = 9, got 10", () -> op.run(q, k, v,
                    OnnxAttention.AttnMask.keep(arena, new boolean[30], 3, 10), pk, pv, null, y, null, null, null));
            expect(BAD, "attn_mask: shape (3, 3, 5) does not broadcast to (batch_size, q_num_heads, q_sequence_length, "
                    + "total_sequence_length) = (2, 4, 3, 5): its q_num_heads dimension must be 1 or 4, got 3",
                    () -> op.run(q, k, v, OnnxAttention.AttnMask.additive(Tensor.allocate(arena, 3, 3, 5)), null, null,
                            null, y, null, null, null));
            expect(BAD, "attn_mask: shape (2, 4, 2, 5)|its q_sequence_length dimension must be 1 or 3, got 2",
                    () -> op.run(q, k, v, OnnxAttention.AttnMask.additive(Tensor.allocate(arena, 2, 4, 2, 5)), null,
                            null, null, y, null, null, null));
            assertUntouched(y, "Y");
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void threeDimensionalInputsNeedTheHeadAttributes(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            // 3-D: B 2, Lq 3, Lkv 5, Hq 4, Hkv 2, D 8, Dv 6.
            Tensor q = Tensor.allocate(arena, 2, 3, 32), k = Tensor.allocate(arena, 2, 5, 16);
            Tensor v = Tensor.allocate(arena, 2, 5, 12);
            Tensor y = sentinel(arena, 2, 3, 24);
            OnnxAttention op = OnnxAttention.builder().qNumHeads(4).kvNumHeads(2).backend(backend).build();
            expect(BAD, "q_num_heads: required with 3-D inputs", () -> OnnxAttention.builder().kvNumHeads(2)
                    .backend(backend).build().run(q, k, v, null, null, null, null, y, null, null, null));
            expect(BAD, "kv_num_heads: required with 3-D inputs", () -> OnnxAttention.builder().qNumHeads(4)
                    .backend(backend).build().run(q, k, v, null, null, null, null, y, null, null, null));
            expect(BAD, "Q: expected shape (batch_size, q_sequence_length, q_hidden_size = q_num_heads·head_size) "
                    + "with a last dimension that q_num_heads = 4 divides, got (2, 3, 30)", () -> op.run(
                    Tensor.allocate(arena, 2, 3, 30), k, v, null, null, null, null, y, null, null, null));
            expect(BAD, "K: expected shape (batch_size, kv_sequence_length, kv_num_heads·head_size) = (2, *, 16), got "
                    + "(2, 5, 12)", () -> op.run(q, Tensor.allocate(arena, 2, 5, 12), v, null, null, null, null, y,
                    null, null, null));
            expect(BAD, "V: expected shape (batch_size, kv_sequence_length, v_hidden_size = kv_num_heads·v_head_size)"
                    + " with a last dimension that kv_num_heads = 2 divides, got (2, 5, 13)", () -> op.run(q, k,
                    Tensor.allocate(arena, 2, 5, 13), null, null, null, null, y, null, null, null));
            expect(BAD, "V: expected shape (batch_size, kv_sequence_length, kv_num_heads·v_head_size) = (2, 5, *), "
                    + "got (2, 4, 12)", () -> op.run(q, k, Tensor.allocate(arena, 2, 4, 12), null, null, null, null, y,
                    null, null, null));
            expect(BAD, "q_num_heads (4) must be a multiple of kv_num_heads (3)", () -> op.toBuilder().kvNumHeads(3)
                    .build().run(q, k, v, null, null, null, null, y, null, null, null));
            expect(BAD, "Y: expected shape (batch_size, q_sequence_length, q_num_heads·v_head_size) = (2, 3, 24), got "
                    + "(2, 4, 3, 6)", () -> op.run(q, k, v, null, null, null, null, Tensor.allocate(arena, 2, 4, 3, 6),
                    null, null, null));
            assertUntouched(y, "Y");
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void badOutputsAreNamedAndARefusedCallWritesNothing(Backend backend) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor q = Tensor.allocate(arena, 1, 2, 3, 4), k = Tensor.allocate(arena, 1, 1, 5, 4);
            Tensor v = Tensor.allocate(arena, 1, 1, 5, 6);
            Tensor pk = Tensor.allocate(arena, 1, 1, 2, 4), pv = Tensor.allocate(arena, 1, 1, 2, 6);
            Tensor y = sentinel(arena, 1, 2, 3, 6), presentKey = sentinel(arena, 1, 1, 7, 4);
            Tensor presentValue = sentinel(arena, 1, 1, 7, 6), qk = sentinel(arena, 1, 2, 3, 7);
            OnnxAttention op = OnnxAttention.builder().backend(backend).qkMatmulOutputMode(1).build();
            expect(BAD, "Y must not be null", () -> op.run(q, k, v, null, pk, pv, null, null, presentKey, presentValue,
                    qk));
            expect(BAD, "Y: expected shape (batch_size, q_num_heads, q_sequence_length, v_head_size) = (1, 2, 3, 6), "
                    + "got (1, 2, 3, 5)", () -> op.run(q, k, v, null, pk, pv, null, Tensor.allocate(arena, 1, 2, 3, 5),
                    presentKey, presentValue, qk));
            expect(BAD, "present_key: expected shape (batch_size, kv_num_heads, total_sequence_length, head_size) = "
                    + "(1, 1, 7, 4), got (1, 1, 5, 4)", () -> op.run(q, k, v, null, pk, pv, null, y,
                    Tensor.allocate(arena, 1, 1, 5, 4), presentValue, qk));
            expect(BAD, "present_value: expected shape (batch_size, kv_num_heads, total_sequence_length, v_head_size) "
                    + "= (1, 1, 7, 6)", () -> op.run(q, k, v, null, pk, pv, null, y, presentKey,
                    Tensor.allocate(arena, 1, 1, 7, 4), qk));
            expect(BAD, "qk_matmul_output: expected shape (batch_size, q_num_heads, q_sequence_length, "
                    + "total_sequence_length) = (1, 2, 3, 7), got (1, 2, 3, 5)", () -> op.run(q, k, v, null, pk, pv,
                    null, y, presentKey, presentValue, Tensor.allocate(arena, 1, 2, 3, 5)));
            Tensor cache = Tensor.allocate(arena, 1, 1, 7, 4); // present_key, with past_key as its first rows
            expect(BAD, "present_key: shares memory with past_key", () -> op.run(q, k, v, null,
                    Tensor.wrap(cache.segment(), 1, 1, 2, 4), pv, null, y, cache, presentValue, qk));
            Tensor scores = Tensor.allocate(arena, 1, 2, 3, 7); // qk_matmul_output, with Y in its first floats
            expect(BAD, "qk_matmul_output: shares memory with Y", () -> op.run(q, k, v, null, pk, pv, null,
                    Tensor.wrap(scores.segment(), 1, 2, 3, 6), presentKey, presentValue, scores));
            Tensor shared = Tensor.allocate(arena, 1, 2, 3, 6); // Y, with Q in its first floats
            expect(BAD, "Y: shares memory with Q", () -> op.run(Tensor.wrap(shared.segment(), 1, 2, 3, 4), k, v, null,
                    pk, pv, null, shared, null, null, null));
            expect(BAD, "Y: its segment is read-only", () -> op.run(q, k, v, null, pk, pv, null,
                    Tensor.wrap(Tensor.allocate(arena, 1, 2, 3, 6).segment().asReadOnly(), 1, 2, 3, 6), null, null,
                    null));
            expect(BAD, "present_value: rows overlap (stride 0 < row length 6)", () -> op.run(q, k, v, null, pk, pv,
                    null, y, null,
                    Tensor.wrap(Tensor.allocate(arena, 42).segment(), new long[] {1, 1, 7, 6}, new long[] {0, 0, 0, 1}),
                    null));
            // A mask of the wrong shape is found after the outputs are checked, still before any write.
            expect(BAD, "attn_mask: shape (2, 7)", () -> op.run(q, k, v, OnnxAttention.AttnMask.keep(arena,
                    new boolean[14], 2, 7), pk, pv, null, y, presentKey, presentValue, qk));
            for (Tensor t : new Tensor[] {y, presentKey, presentValue, qk}) {
                assertUntouched(t, "an output");
            }
        }
    }

    @Test
    void closedArenasHalfTensorsAndHeapMemoryForNativeAreRefusedByName() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(arena, 1, 1, 2, 2);
            OnnxAttention op = OnnxAttention.builder().backend(Backend.JAVA).build();
            expect(IllegalStateException.class, "past_key: its arena is closed", () -> op.run(t, t, t, null,
                    Refusals.closed(1, 1, 2, 2), t, null, Tensor.allocate(arena, 1, 1, 2, 2), null, null, null));
            expect(BAD, "V: dtype F16, expected F32 (the ONNX operator runs on float32 tensors", () -> op.run(t, t,
                    t.to(arena, Dtype.F16), null, null, null, null, Tensor.allocate(arena, 1, 1, 2, 2), null, null,
                    null));
            expect(BAD, "attn_mask: dtype BF16, expected F32", () -> OnnxAttention.AttnMask.additive(
                    Tensor.allocate(arena, 2, 2).to(arena, Dtype.BF16)));
            Tensor heap = Tensor.wrap(MemorySegment.ofArray(new float[4]), 1, 1, 2, 2);
            expect(BAD, "K: the native backend needs off-heap memory", () -> op.toBuilder().backend(Backend.NATIVE)
                    .build().run(t, heap, t, null, null, null, null, Tensor.allocate(arena, 1, 1, 2, 2), null, null,
                            null));
        }
    }
}
