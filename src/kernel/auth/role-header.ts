/**
 * The caller's role, told by the gateway to an upstream whose caps depend on it (the idea bank). The
 * gateway sets it from the authenticated key and replaces whatever a client sent under this name.
 */
export const ROLE_HEADER = 'x-tradingsystem-role';
