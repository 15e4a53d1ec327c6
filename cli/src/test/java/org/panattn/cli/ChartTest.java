package org.panattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.panattn.Backend;

/** bench --chart: what its labels say, in which unit, and where its whiskers end. */
class ChartTest {
    @TempDir
    Path tmp;

    private static BenchCommand.Shape shape(String workload, String variant) {
        return new BenchCommand.Shape(workload, false, 1, 2, 2, 9, 9, 8, 0, false, variant);
    }

    @Test
    void labelsSayFasterOrSlowerThanNativeTheRightWayRound() {
        assertEquals("3.2× slower", Chart.versusNative(3.2e6, 1e6));
        assertEquals("2.0× faster", Chart.versusNative(0.5e6, 1e6));
        assertEquals("12× slower", Chart.versusNative(12e6, 1e6));
        assertEquals("40× faster", Chart.versusNative(25, 1000));
        assertEquals("as fast as native", Chart.versusNative(1.01e6, 1e6));
    }

    @Test
    void oneUnitForTheWholeAxisWithThreeSignificantDigits() {
        assertEquals("µs", Chart.unit(8_000, 40_000).name());
        assertEquals("ms", Chart.unit(8_000, 200_000_000).name(), "µs to 100s of ms: the middle is in ms");
        assertEquals("s", Chart.unit(2e9, 9e9).name());
        Chart.Unit ms = new Chart.Unit("ms", 1e6);
        assertEquals("0.00812 ms", ms.format(8_120));
        assertEquals("11.4 ms", ms.format(11_420_000));
        assertEquals("212 ms", ms.format(212_300_000));
    }

    @Test
    void whiskersSpanP10ToP90AndDotsSitAtTheMedians() throws IOException {
        List<BenchCommand.Result> results = List.of(
                new BenchCommand.Result(shape("W1", "sdpa"), Backend.NATIVE, 2, 1_000_000, 900_000, 1_500_000, 10, 0, 0),
                new BenchCommand.Result(shape("W1", "sdpa"), Backend.JAVA, 1, 4_000_000, 3_000_000, 9_000_000, 10, 0, 0),
                new BenchCommand.Result(shape("W3", "sdpa"), Backend.NATIVE, 2, 10_000, 9_000, 12_000, 10, 0, 0),
                new BenchCommand.Result(shape("W3", "sdpa"), Backend.JAVA, 1, 5_000, 4_000, 6_000, 10, 0, 0));
        XYChart chart = Chart.build(results, "context");
        XYSeries dots = chart.getSeriesMap().get("plain Java");
        XYSeries whiskers = chart.getSeriesMap().get("plain Java p10-p90");
        assertEquals("time per call (µs, log scale)", chart.getYAxisTitle(), "4 µs to 9 ms: the middle is in µs");
        assertEquals(4000.0, dots.getYData()[0], 1e-9, "the median, in µs");
        double[] mid = whiskers.getYData(), half = whiskers.getExtraValues();
        assertEquals(3000.0, mid[0] - half[0], 1e-9, "p10");
        assertEquals(9000.0, mid[0] + half[0], 1e-9, "p90");
        assertEquals(List.of(1.0, 2.0), List.of(dots.getXData()[0], dots.getXData()[1]), "one case per x");
        Path png = tmp.resolve("c.png");
        Chart.write(png, results, "panattn test");
        BufferedImage image = ImageIO.read(png.toFile());
        assertTrue(image.getWidth() >= 900 && image.getHeight() >= 600, image.getWidth() + "x" + image.getHeight());
    }
}
