package org.panattn;

/**
 * A failure reported by the native library: its status code and message.
 * Bad arguments are caught in Java first and reported as
 * {@link IllegalArgumentException}; this type carries what the native side
 * refused or could not do.
 */
public class PanattnException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    public PanattnException(int status, String message) {
        super(message);
        this.status = status;
    }

    public PanattnException(String message, Throwable cause) {
        super(message, cause);
        this.status = 0;
    }

    /** The native status code (negative), or 0 when the failure is not a native status. */
    public int status() {
        return status;
    }
}
