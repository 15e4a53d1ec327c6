package org.panattn;

/**
 * The native library could not be loaded. The message lists every place
 * that was tried and why each failed; {@link Backend#JAVA} still works.
 */
public final class NativeUnavailableException extends PanattnException {
    private static final long serialVersionUID = 1L;

    /**
     * The library could not be loaded.
     *
     * @param message every place tried, and why each failed
     * @param cause the last underlying problem, or null
     */
    public NativeUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
