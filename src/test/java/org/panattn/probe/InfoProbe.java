package org.panattn.probe;

import org.panattn.Panattn;

/**
 * Prints {@link Panattn#info()}: what {@code panattn info} prints. ModulePathIT runs it, alone on the class
 * path, against the library jar on the module path or the class path; it is in a package of its own so that
 * it can sit beside the module org.panattn.
 */
public final class InfoProbe {
    private InfoProbe() {
    }

    public static void main(String[] args) {
        System.out.print(Panattn.info());
    }
}
