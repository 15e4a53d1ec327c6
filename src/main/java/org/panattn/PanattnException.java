package org.panattn;

/**
 * A failure reported by the native library: its status code and message.
 * Bad arguments are caught in Java first and reported as
 * {@link IllegalArgumentException}; this type carries what the native side
 * refused or could not do.
 */
public class PanattnException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The native status code, or 0. */
    private final int status;

    /**
     * A native failure.
     *
     * @param status the native status code (negative)
     * @param message what failed, and why
     */
    public PanattnException(int status, String message) {
        super(message);
        this.status = status;
    }

    /**
     * A failure that is not a native status.
     *
     * @param message what failed, and why
     * @param cause the underlying problem, or null
     */
    public PanattnException(String message, Throwable cause) {
        super(message, cause);
        this.status = 0;
    }

    /** {@return the native status code (negative), or 0 when the failure is not a native status} */
    public int status() {
        return status;
    }
}
