package org.panattn.cli;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import javax.imageio.ImageIO;

import org.panattn.Backend;

/**
 * A grouped bar chart of benchmark medians (log scale, lower is better):
 * one group per case, one bar per backend. Drawn with Java2D, so the
 * library needs no charting dependency.
 */
final class Chart {
    private static final int WIDTH = 1000, HEIGHT = 560, LEFT = 90, RIGHT = 30, TOP = 60, BOTTOM = 110;
    private static final Map<Backend, Color> COLORS = Map.of(Backend.NATIVE, new Color(0x1f77b4),
            Backend.JAVA_VECTOR, new Color(0xff7f0e), Backend.JAVA, new Color(0x7f7f7f));

    private Chart() {
    }

    static void write(Path file, List<BenchCommand.Result> results) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Map<String, List<BenchCommand.Result>> groups = new LinkedHashMap<>();
        for (BenchCommand.Result r : results) {
            String label = r.shape().workload().startsWith("W") ? r.shape().workload() + ": " + r.shape().describe()
                    : r.shape().describe();
            groups.computeIfAbsent(label, k -> new ArrayList<>()).add(r);
        }
        double lo = Double.MAX_VALUE, hi = 0;
        for (BenchCommand.Result r : results) {
            lo = Math.min(lo, r.medianNs());
            hi = Math.max(hi, r.medianNs());
        }
        double logLo = Math.floor(Math.log10(lo)), logHi = Math.ceil(Math.log10(hi));
        if (logHi <= logLo) {
            logHi = logLo + 1;
        }
        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, HEIGHT);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString("panattn: median time per call (log scale, lower is better)", LEFT, 30);
        int plotH = HEIGHT - TOP - BOTTOM, plotW = WIDTH - LEFT - RIGHT;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        for (double e = logLo; e <= logHi; e++) {
            int y = TOP + plotH - (int) ((e - logLo) / (logHi - logLo) * plotH);
            g.setColor(new Color(0xdddddd));
            g.drawLine(LEFT, y, LEFT + plotW, y);
            g.setColor(Color.BLACK);
            g.drawString(BenchCommand.time((long) Math.pow(10, e)), 8, y + 4);
        }
        int groupW = plotW / Math.max(1, groups.size());
        int gi = 0;
        for (Map.Entry<String, List<BenchCommand.Result>> group : groups.entrySet()) {
            List<BenchCommand.Result> bars = group.getValue();
            int barW = Math.min(60, (groupW - 20) / Math.max(1, bars.size()));
            int x0 = LEFT + gi * groupW + (groupW - barW * bars.size()) / 2;
            long nativeNs = bars.stream().filter(r -> r.backend() == Backend.NATIVE).mapToLong(r -> r.medianNs())
                    .findFirst().orElse(0);
            for (int bi = 0; bi < bars.size(); bi++) {
                BenchCommand.Result r = bars.get(bi);
                double frac = (Math.log10(r.medianNs()) - logLo) / (logHi - logLo);
                int h = Math.max(2, (int) (frac * plotH));
                int x = x0 + bi * barW;
                g.setColor(COLORS.getOrDefault(r.backend(), Color.DARK_GRAY));
                g.fillRect(x + 2, TOP + plotH - h, barW - 4, h);
                g.setColor(Color.BLACK);
                String label = r.backend() == Backend.NATIVE || nativeNs == 0 ? BenchCommand.time(r.medianNs())
                        : String.format(Locale.ROOT, "%.1fx", (double) r.medianNs() / nativeNs);
                g.drawString(label, x + 2, TOP + plotH - h - 4);
            }
            g.drawString(group.getKey(), LEFT + gi * groupW + 4, TOP + plotH + 18 + (gi % 2) * 14);
            gi++;
        }
        g.setStroke(new BasicStroke(1.5f));
        g.drawLine(LEFT, TOP + plotH, LEFT + plotW, TOP + plotH);
        int lx = LEFT;
        for (Backend b : List.of(Backend.NATIVE, Backend.JAVA_VECTOR, Backend.JAVA)) {
            g.setColor(COLORS.get(b));
            g.fillRect(lx, HEIGHT - 40, 14, 14);
            g.setColor(Color.BLACK);
            String name = switch (b) {
                case NATIVE -> "native (labels: time)";
                case JAVA_VECTOR -> "Java Vector API (labels: x slower than native)";
                case JAVA -> "plain Java";
            };
            g.drawString(name, lx + 20, HEIGHT - 28);
            lx += 40 + g.getFontMetrics().stringWidth(name);
        }
        g.dispose();
        ImageIO.write(image, "png", file.toFile());
    }
}
