package org.panattn.cli;

import java.awt.Color;
import java.awt.Font;
import java.awt.font.FontRenderContext;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

import javax.imageio.ImageIO;

import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.panattn.Backend;

/**
 * {@code bench --chart}: each case's median time per call on each backend (a dot), with a whisker from p10
 * to p90, on a logarithmic axis in one time unit. Beside each dot: native's time, and for the others how
 * many times faster or slower than native they are on that case. The run's context is the x axis's title.
 */
final class Chart {
    private static final Map<Backend, Color> COLORS = Map.of(Backend.NATIVE, new Color(0x1f77b4),
            Backend.JAVA_VECTOR, new Color(0xff7f0e), Backend.JAVA, new Color(0x555555));
    private static final Font TICKS = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
    private static final Font LABELS = new Font(Font.SANS_SERIF, Font.PLAIN, 11);
    private static final Font TITLE = new Font(Font.SANS_SERIF, Font.BOLD, 15);
    private static final int HEIGHT = 620, MAX_WIDTH = 2400, MARGINS = 220;

    private Chart() {
    }

    /** A time unit: its name and how many nanoseconds it holds. */
    record Unit(String name, double ns) {
        /** Three significant digits, in this unit: "212 ms", "11.4 ms", "0.00812 ms". */
        String format(double valueNs) {
            return new BigDecimal(valueNs / ns).round(new MathContext(3)).stripTrailingZeros().toPlainString() + " "
                    + name;
        }
    }

    /** The one unit of the axis: the one in which the middle (geometric) of the range is from 1 to 1000. */
    static Unit unit(double loNs, double hiNs) {
        double middle = Math.sqrt(loNs * hiNs);
        return middle >= 1e9 ? new Unit("s", 1e9) : middle >= 1e6 ? new Unit("ms", 1e6)
                : middle >= 1e3 ? new Unit("µs", 1e3) : new Unit("ns", 1);
    }

    /** How a backend compares with native on a case: "3.2× slower", "1.5× faster", "as fast as native". */
    static String versusNative(double medianNs, double nativeNs) {
        double r = medianNs / nativeNs;
        if (r > 1 / 1.05 && r < 1.05) {
            return "as fast as native";
        }
        double x = r >= 1 ? r : 1 / r;
        return String.format(Locale.ROOT, x >= 10 ? "%.0f× %s" : "%.1f× %s", x, r >= 1 ? "slower" : "faster");
    }

    static String backendName(Backend b) {
        return switch (b) {
            case NATIVE -> "native";
            case JAVA_VECTOR -> "Java Vector API";
            case JAVA -> "plain Java";
        };
    }

    static void write(Path file, List<BenchCommand.Result> results, String context) throws IOException {
        System.setProperty("java.awt.headless", "true");
        ImageIO.write(BitmapEncoder.getBufferedImage(build(results, context)), "png", file.toFile());
    }

    static XYChart build(List<BenchCommand.Result> results, String context) {
        // Variants timed on one shape are named by their variant alone, the shape going to the title.
        boolean oneShape = results.stream().map(r -> shapeOnly(r.shape())).distinct().count() == 1
                && results.stream().map(r -> r.shape().variant()).distinct().count() > 1;
        Function<BenchCommand.Shape, String> label = oneShape ? BenchCommand.Shape::variant : Chart::label;
        Map<String, Integer> cases = new LinkedHashMap<>();
        for (BenchCommand.Result r : results) {
            cases.putIfAbsent(label.apply(r.shape()), cases.size() + 1);
        }
        double lo = results.stream().mapToDouble(BenchCommand.Result::p10Ns).min().orElse(1);
        double hi = results.stream().mapToDouble(BenchCommand.Result::p90Ns).max().orElse(1);
        Unit unit = unit(Math.max(1, lo), Math.max(1, hi));
        List<String> names = new ArrayList<>(cases.keySet());

        int n = cases.size();
        FontRenderContext frc = new FontRenderContext(null, true, false);
        double widest = names.stream().mapToDouble(s -> TICKS.getStringBounds(s, frc).getWidth()).max().orElse(0);
        // Wide enough for every case's name under its dots (XChart leaves out names that would touch), up to
        // a limit past which the names stand vertical.
        double wanted = widest * 1.25 + 30;
        String title = "panattn bench" + (oneShape ? " on " + shapeOnly(results.get(0).shape()) : "")
                + ": median time per call, whiskers p10 to p90 (lower is better)";
        int width = (int) Math.min(MAX_WIDTH, Math.max(Math.max(900, TITLE.getStringBounds(title, frc).getWidth()
                + 120), MARGINS + (n + 1) * wanted));
        double slot = (width - MARGINS) / (n + 1.0);  // pixels per case, about
        boolean vertical = slot < wanted;
        XYChart chart = new XYChartBuilder().width(width).height(HEIGHT + (vertical ? (int) widest : 0)).title(title)
                .xAxisTitle(context).yAxisTitle("time per call (" + unit.name() + ", log scale)").build();
        var st = chart.getStyler();
        st.setChartBackgroundColor(Color.WHITE);
        st.setPlotBackgroundColor(Color.WHITE);
        st.setPlotGridLinesColor(new Color(0xdddddd));
        st.setChartTitleFont(TITLE);
        st.setAxisTitleFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        st.setAxisTickLabelsFont(TICKS);
        st.setAnnotationTextFont(LABELS);
        st.setLegendPosition(Styler.LegendPosition.OutsideS);
        st.setLegendLayout(Styler.LegendLayout.Horizontal);
        st.setLegendBorderColor(Color.WHITE);
        st.setYAxisLogarithmic(true);
        st.setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        st.setMarkerSize(9);
        st.setErrorBarsColorSeriesColor(true);
        st.setPlotGridVerticalLinesVisible(false);
        // Case i sits at x = i; 0 and n + 1 keep the ends clear, and make the x values evenly spaced so that
        // the axis puts a tick (the case's name) at each of them and nowhere else.
        st.setXAxisMin(0.0);
        st.setXAxisMax(n + 1.0);
        st.setxAxisTickLabelsFormattingFunction(x -> {
            long i = Math.round(x);
            // Never empty (XChart measures every label); the ends' blanks differ so that labels stay unique.
            return Math.abs(x - i) > 1e-6 ? "   " : i == 0 ? " " : i == n + 1 ? "  " : names.get((int) i - 1);
        });
        st.setXAxisLabelRotation(vertical ? 90 : 0);
        double yMin = Math.pow(10, Math.floor(Math.log10(lo / unit.ns())));
        double yMax = Math.pow(10, Math.ceil(Math.log10(hi * 1.6 / unit.ns())));
        st.setYAxisMin(yMin);
        st.setYAxisMax(yMax);
        st.setYAxisDecimalPattern("#,##0.###");

        Map<String, Long> nativeNs = new LinkedHashMap<>();
        for (BenchCommand.Result r : results) {
            if (r.backend() == Backend.NATIVE) {
                nativeNs.putIfAbsent(label.apply(r.shape()), r.medianNs());
            }
        }
        // A text line's height on the y axis, in decades (the plot is the chart less about 170 pixels).
        double lineInDecades = 14.0 / (HEIGHT - 170) * Math.log10(yMax / yMin);
        Map<Double, Double> vectorAt = new LinkedHashMap<>();
        for (Backend b : List.of(Backend.NATIVE, Backend.JAVA_VECTOR, Backend.JAVA)) {
            List<BenchCommand.Result> mine = results.stream().filter(r -> r.backend() == b).toList();
            if (mine.isEmpty()) {
                continue;
            }
            double[] x = new double[mine.size()], median = new double[mine.size()];
            double[] middle = new double[mine.size()], half = new double[mine.size()];
            for (int i = 0; i < mine.size(); i++) {
                BenchCommand.Result r = mine.get(i);
                x[i] = cases.get(label.apply(r.shape()));
                median[i] = r.medianNs() / unit.ns();
                // XChart's error bars are symmetric: centred between p10 and p90, they span exactly p10..p90.
                middle[i] = (r.p10Ns() + r.p90Ns()) / 2.0 / unit.ns();
                half[i] = (r.p90Ns() - r.p10Ns()) / 2.0 / unit.ns();
                Long nat = nativeNs.get(label.apply(r.shape()));
                String text = b == Backend.NATIVE || nat == null ? unit.format(r.medianNs())
                        : versusNative(r.medianNs(), nat);
                double textPx = LABELS.getStringBounds(text, frc).getWidth();
                // The text is centred where it is put: native's goes left of its dot, the others' right of
                // theirs, by half its width and a gap (in x units), so that close dots keep apart labels.
                double shift = (textPx / 2 + 9) / slot * (b == Backend.NATIVE ? -1 : 1);
                double y = median[i];
                if (b == Backend.JAVA) {  // right of its dot like vector's: keep a line's height from it
                    Double other = vectorAt.get(x[i]);
                    if (other != null && Math.abs(Math.log10(y / other)) < lineInDecades) {
                        y = other * Math.pow(10, lineInDecades * (y >= other ? 1 : -1));
                    }
                } else if (b == Backend.JAVA_VECTOR) {
                    vectorAt.put(x[i], y);
                }
                chart.addAnnotation(new AnnotationText(text, x[i] + shift, y, false));
            }
            Color color = COLORS.get(b);
            XYSeries whiskers = chart.addSeries(backendName(b) + " p10-p90", x, middle, half);
            whiskers.setMarker(SeriesMarkers.NONE).setLineColor(color).setShowInLegend(false);
            XYSeries dots = chart.addSeries(backendName(b), x, median);
            dots.setMarker(SeriesMarkers.CIRCLE).setMarkerColor(color).setLineColor(color);
        }
        return chart;
    }

    /** A case's shape, without its variant. */
    private static String shapeOnly(BenchCommand.Shape s) {
        return label(new BenchCommand.Shape(s.workload(), s.mha(), s.b(), s.h(), s.hkv(), s.lq(), s.lk(), s.d(),
                s.e(), s.causal(), "sdpa", "tensor", s.dtype()));
    }

    /** A case's name on the axis. */
    static String label(BenchCommand.Shape s) {
        return s.workload().startsWith("W") ? s.workload() + ": " + s.describe() : s.describe();
    }
}
