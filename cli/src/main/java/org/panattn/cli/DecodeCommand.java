package org.panattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import org.panattn.AttentionSpec;
import org.panattn.Backend;
import org.panattn.Causal;
import org.panattn.Dtype;
import org.panattn.KvCache;
import org.panattn.Panattn;
import org.panattn.Rope;
import org.panattn.Tensor;
import org.panattn.layers.MultiHeadAttention;

import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code decode}: a multi-head self-attention layer run token by token through a {@link KvCache}, as a
 * decoder generates, over a whole input sequence given at once (teacher forcing): the outputs equal the
 * layer's causal forward over the sequence, and each call can be timed.
 */
@Command(name = "decode", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        sortOptions = false, separator = " ", descriptionHeading = "%n",
        synopsisHeading = "usage: ", optionListHeading = "%nOptions:%n",
        customSynopsis = {
            "panattn decode --x X.npy --heads H (--in-proj-weight W.npy | --q-proj-weight W.npy",
            "                --k-proj-weight W.npy --v-proj-weight W.npy) --out-proj-weight W.npy",
            "                --out OUT.npy [OPTIONS]"},
        description = {
            "A multi-head self-attention layer decoding token by token through a KV cache.",
            "",
            "Reads the layer's weights as run --variant mha does (the names and shapes of",
            "nn.MultiheadAttention's state_dict) and an input sequence X (B, T, E); runs the first",
            "--prompt-length tokens in one call (the prompt), then each further token in a call of its own,",
            "appending its keys and values to the cache and attending over everything cached; writes the",
            "outputs (B, T, E), which equal the layer's causal forward over X (run --variant mha --causal)."},
        footer = {"",
            "Files are NumPy .npy, float32 '<f4' in C order. --timings writes one JSON object: the",
            "context (as info --json), the sizes, prompt_ns (the prompt's call, or null) and token_ns (each",
            "later call's nanoseconds, in token order). Each call runs once: the first ones include the",
            "JVM's warm-up (bench times steady state)."})
final class DecodeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ArgGroup(validate = false, order = 1, heading = "%nInput and output:%n")
    Io io = new Io();

    @ArgGroup(validate = false, order = 2, heading = "%nThe layer (as run --variant mha):%n")
    Layer layer = new Layer();

    @ArgGroup(validate = false, order = 3, heading = "%nThe layer's rotary embeddings (each token at its own "
            + "position):%n")
    RunCommand.Rotary rotary = new RunCommand.Rotary();

    @ArgGroup(validate = false, order = 4, heading = "%nWindow, scale and positional terms (decoding is causal: "
            + "each token sees the tokens up to its own):%n")
    SpecOptions.Terms terms = new SpecOptions.Terms();

    static final class Io {
        @Option(names = "--x", paramLabel = "X.npy", order = 1,
                description = "the input sequence (B, T, E), or (T, B, E) with --seq-first (required)")
        String x;

        @Option(names = "--seq-first", order = 2, description = "X and the output are (T, B, E)")
        boolean seqFirst;

        @Option(names = "--prompt-length", paramLabel = "P", order = 3, converter = Options.AtLeast0.class,
                description = "the first P tokens in one call (default 0: every token in a call of its own)")
        Long promptLength;

        @Option(names = "--backend", paramLabel = "B", order = 4, converter = Options.BackendName.class,
                description = "native, java or vector (default: native when the library loads, else java)")
        Backend backend;

        @Option(names = "--dtype", paramLabel = "T", order = 5, converter = Options.DtypeName.class,
                description = "f32 (default), f16 or bf16: how the KV cache stores keys and values (rounded to "
                        + "nearest even; computed on in float32)")
        Dtype dtype;

        @Option(names = "--out", paramLabel = "OUT.npy", order = 6, description = "the outputs (required)")
        String out;

        @Option(names = "--timings", paramLabel = "T.json", order = 7,
                description = "also write each call's time, in nanoseconds, as JSON")
        String timings;
    }

    static final class Layer {
        @Option(names = "--heads", paramLabel = "H", order = 1, converter = Options.AtLeast1.class,
                description = "num_heads (required)")
        Long heads;

        @Option(names = "--kv-heads", paramLabel = "HKV", order = 2, converter = Options.AtLeast1.class,
                description = "key/value heads (grouped-query attention; default H): the cache holds HKV heads")
        Long kvHeads;

        @Option(names = "--in-proj-weight", paramLabel = "W.npy", order = 3, description = "(E + 2·kvDim, E)")
        String inProjWeight;

        @Option(names = "--q-proj-weight", paramLabel = "W.npy", order = 4,
                description = "(E, E), with the next two instead of --in-proj-weight")
        String qProjWeight;

        @Option(names = "--k-proj-weight", paramLabel = "W.npy", order = 5, description = "(kvDim, E)")
        String kProjWeight;

        @Option(names = "--v-proj-weight", paramLabel = "W.npy", order = 6, description = "(kvDim, E)")
        String vProjWeight;

        @Option(names = "--in-proj-bias", paramLabel = "B.npy", order = 7, description = "(E + 2·kvDim); optional")
        String inProjBias;

        @Option(names = "--out-proj-weight", paramLabel = "W.npy", order = 8, description = "(E, E) (required)")
        String outProjWeight;

        @Option(names = "--out-proj-bias", paramLabel = "B.npy", order = 9, description = "(E); optional")
        String outProjBias;

        MhaWeightFiles weightFiles() {
            return new MhaWeightFiles(inProjWeight, qProjWeight, kProjWeight, vProjWeight, inProjBias, outProjWeight,
                    outProjBias);
        }
    }

    @Override
    public Integer call() throws IOException {
        Options.refuseRepeated(spec.commandLine().getParseResult());
        Map<String, String> inputs = Options.files("--x", io.x);
        inputs.putAll(layer.weightFiles().files());
        inputs.putAll(terms.files());
        Options.checkOutputs(inputs, Options.files("--out", io.out, "--timings", io.timings));
        String outFile = Options.require(io.out, "--out");
        boolean batchFirst = !io.seqFirst;
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Inputs.tensor(arena, "--x", Options.require(io.x, "--x"),
                    batchFirst ? "(B, T, E)" : "(T, B, E)", -1, -1, -1);
            long batch = x.size(batchFirst ? 0 : 1), length = x.size(batchFirst ? 1 : 0), width = x.size(2);
            long prompt = io.promptLength == null ? 0 : io.promptLength;
            if (prompt > length) {
                throw new Options.UsageException("--prompt-length " + prompt + ": X has only " + length + " tokens");
            }
            MultiHeadAttention mha = layer(arena, width, batchFirst);
            Backend backend = io.backend == null ? Panattn.defaultBackend() : io.backend;
            AttentionSpec.Builder spec = AttentionSpec.builder().backend(backend).causal(Causal.BOTTOM_RIGHT);
            terms.apply(arena, spec, new SpecOptions.Sizes(batch, mha.numHeads(), length, length), Causal.BOTTOM_RIGHT);
            Tensor out = Tensor.allocate(arena, x.shape());
            List<Long> ns = decode(mha, cache(arena, mha, io.dtype, batch, length), x, out, prompt, spec.build(), batchFirst);
            Npy.write(Path.of(outFile), out.toArray(), out.shape());
            if (io.timings != null) {
                Json json = new Json().put("context", InfoCommand.context()).put("backend", Options.name(backend))
                        .put("batch", batch).put("tokens", length).put("embed_dim", width)
                        .put("heads", mha.numHeads()).put("kv_heads", mha.numKvHeads())
                        .put("dtype", Options.name(io.dtype == null ? Dtype.F32 : io.dtype)).put("prompt_length", prompt)
                        .put("prompt_ns", prompt > 0 ? ns.get(0) : null)
                        .put("token_ns", prompt > 0 ? ns.subList(1, ns.size()) : ns);
                Files.writeString(Path.of(io.timings), json + "\n", StandardCharsets.UTF_8);
            }
        }
        return 0;
    }

    /** The layer of --heads and --kv-heads over inputs of width E, its weights loaded. */
    private MultiHeadAttention layer(Arena arena, long width, boolean batchFirst) throws IOException {
        long heads = Options.require(layer.heads, "--heads");
        if (width % heads != 0) {
            throw new Options.UsageException("--heads " + heads + ": X's width E = " + width + " is not a multiple "
                    + "of it");
        }
        MultiHeadAttention.Builder b = MultiHeadAttention.builder(width, heads).batchFirst(batchFirst);
        if (layer.kvHeads != null) {
            if (heads % layer.kvHeads != 0) {
                throw new Options.UsageException("--kv-heads " + layer.kvHeads + ": must divide --heads " + heads);
            }
            b.kvHeads(layer.kvHeads);
        }
        Rope.Layout layout = rotary.layout();
        if (rotary.ropeBase != null) {
            b.rope(rotary.ropeBase.floatValue(), layout);
        }
        return layer.weightFiles().load(arena, b, true);
    }

    /** The cache the layer decodes into: keys and values (B, HKV, T, headDim), float32 unless --dtype says. */
    private static KvCache cache(Arena arena, MultiHeadAttention mha, Dtype dtype, long batch, long length) {
        return KvCache.allocate(arena, dtype == null ? Dtype.F32 : dtype, batch, mha.numKvHeads(), length,
                mha.headDim());
    }

    /**
     * Runs the prompt's tokens in one call, then each later token in a call of its own, writing each call's
     * output into its tokens of {@code out}; returns each call's nanoseconds.
     */
    private static List<Long> decode(MultiHeadAttention mha, KvCache cache, Tensor x, Tensor out, long prompt,
                                     AttentionSpec spec, boolean batchFirst) {
        List<Long> ns = new ArrayList<>();
        int tokenDim = batchFirst ? 1 : 0;
        long length = x.size(tokenDim);
        if (x.size() == 0) {
            return ns; // nothing to decode, and no token's memory to slice
        }
        for (long t = 0; t < length; ) {
            long n = t == 0 && prompt > 0 ? prompt : 1;
            // Each call's temporaries live in an arena of their own, freed before the next.
            try (Arena call = Arena.ofConfined()) {
                Tensor tokens = tokens(x, tokenDim, t, n);
                long start = System.nanoTime();
                Tensor y = mha.forwardCached(call, tokens, cache, spec);
                ns.add(System.nanoTime() - start);
                tokens(out, tokenDim, t, n).copyFrom(y.toArray());
            }
            t += n;
        }
        return ns;
    }

    /** A view of tokens [from, from + n) of a contiguous sequence whose tokens run along {@code tokenDim}. */
    private static Tensor tokens(Tensor seq, int tokenDim, long from, long n) {
        long[] shape = seq.shape(), strides = seq.strides();
        shape[tokenDim] = n;
        MemorySegment rest = seq.segment().asSlice(from * strides[tokenDim] * Float.BYTES);
        return Tensor.wrap(rest, shape, strides);
    }
}
