// A client's walk through the example API, typed by the types openapi-typescript
// generates from the served OpenAPI document (`generated/schema.d.ts`, made by
// .ci/typescript.sh). Nothing here runs: `tsc --noEmit` checks that every call and every
// field read type-checks, so a success answer whose schema says nothing (a bare
// `{"type": "object"}`, typed `Record<string, never>`) fails the check.

import type { components, paths } from "./generated/schema";

type Method = "get" | "post" | "put" | "patch" | "delete";

/** The operation `method path` of the document. */
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

/** The JSON body `method path` takes. */
type Body<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { requestBody: { content: { "application/json": infer B } } }
    ? B
    : Operation<P, M> extends { requestBody?: { content: { "application/json": infer B } } }
      ? B
      : never;

/** The JSON body of the `status` answer of `method path`. */
type Answer<P extends keyof paths, M extends Method, S extends number> =
  Operation<P, M> extends { responses: infer R }
    ? S extends keyof R
      ? R[S] extends { content: { "application/json": infer A } }
        ? A
        : never
      : never
    : never;

/** The error envelope every failure answers. */
type Failure = components["schemas"]["Error"];

/** What a call gives: the documented success answer, or the error envelope. */
type Result<A> = { ok: true; body: A } | { ok: false; body: Failure };

/**
 * A JSON request (declared only: the check runs nothing). `token` goes in
 * `Authorization: Bearer`; `path` is the document's, with its parameters filled in.
 */
declare function call<P extends keyof paths, M extends Method, S extends number>(
  method: M,
  path: P,
  status: S,
  init: { body?: Body<P, M>; token?: string; params?: Record<string, string> },
): Promise<Result<Answer<P, M, S>>>;

/** The tokens of a sign-in's answer (the browser transport answers none: no cookie here). */
function pair(data: { access_token?: string; renewal_token?: string }): {
  access: string;
  renewal: string;
} {
  if (data.access_token === undefined || data.renewal_token === undefined) {
    throw new Error("no token pair: the browser transport answers none");
  }
  return { access: data.access_token, renewal: data.renewal_token };
}

/** What a failure tells the client to do: the code, and the steps still pending. */
function explain(failure: Failure): string {
  const steps = (failure.data?.pending ?? []).map((step) => `${step.step} (${step.methods.join(", ")})`);
  const first = failure.errors[0];
  return `${failure.status} ${first?.code ?? "?"}: ${first?.message ?? ""} ${steps.join("; ")}`;
}

/** Shows values to the user (declared only). */
declare function show(...values: unknown[]): void;

function expect<A>(result: Result<A>): A {
  if (!result.ok) {
    throw new Error(explain(result.body));
  }
  return result.body;
}

export async function walk(email: string, password: string): Promise<void> {
  // What the server offers, before anything else: the forms follow it.
  const config = expect(await call("get", "/config", 200, {}));
  const field: string = config.data.user_id_field;
  const minLength: number = config.data.password.min_length;
  const maxLength: number = config.data.password.max_length;
  const sudoSeconds: number = config.data.sudo_window_secs;
  const extensions: string[] = config.data.extensions;
  const browser: string | null = config.data.browser_transport;
  const providers: string[] =
    config.data.extension_details.pow_oauth?.providers.map((provider) => provider.id) ?? [];
  const captchaHeader: string | null = config.data.captcha === null ? null : config.data.captcha.header;
  show(field, minLength, maxLength, sudoSeconds, extensions, browser, providers, captchaHeader);

  // Sign up. With email confirmation on (strict), this answers 401 with a pending step.
  const signUp = await call("post", "/registration", 200, {
    body: { user: { email, password, password_confirmation: password } },
  });
  if (signUp.ok) {
    const confirmed: boolean | undefined = signUp.body.data.email_confirmed;
    show(pair(signUp.body.data).access, confirmed);
  } else {
    show(explain(signUp.body));
  }

  // Sign in.
  const signedIn = expect(await call("post", "/session", 200, { body: { user: { email, password } } }));
  let tokens = pair(signedIn.data);

  // Who is signed in, and how.
  const who = expect(await call("get", "/session", 200, { token: tokens.access }));
  const id: number = who.data.user.id;
  const address: string | null | undefined = who.data.user.email;
  const signedInAt: number = who.data.session.signed_in_at;
  const methods: string[] = who.data.session.methods.map((use) => `${use.method}@${use.at}`);
  const fresh: boolean = who.data.session.sudo.fresh;
  const freshUntil: number | null = who.data.session.sudo.until;
  const pending: string[] = who.data.pending.map((step) => step.step);
  show(id, address, signedInAt, methods, fresh, freshUntil, pending);

  // The account's recent events.
  const activity = expect(await call("get", "/activity", 200, { token: tokens.access }));
  const available: boolean = activity.meta.available;
  const events: string[] = activity.data.map((event) => `${event.at} ${event.label} ${event.ip ?? "-"}`);
  show(available, events);

  // The sessions, and the second factor's state.
  const sessions = expect(await call("get", "/sessions", 200, { token: tokens.access }));
  const current = sessions.data.find((session) => session.current);
  show(current?.id, current?.kind);
  const twoFactor = expect(await call("get", "/two-factor", 200, { token: tokens.access }));
  if (twoFactor.data.enabled) {
    const left: number = twoFactor.data.recovery_codes_left;
    show(left);
  } else {
    const secret: string = twoFactor.data.secret;
    const url: string = twoFactor.data.otpauth_url;
    show(secret, url);
  }

  // Add a passkey: the options go to `navigator.credentials.create`, and the credential it
  // makes comes back typed as the document shapes it (WebAuthn's JSON form).
  const ceremony = expect(
    await call("post", "/passkeys/registration/options", 200, { token: tokens.access, body: { kind: "passkey" } }),
  );
  const publicKey: { [key: string]: unknown } = ceremony.data.options.publicKey;
  show(publicKey);
  const credential: components["schemas"]["PasskeyAnswer"]["credential"] = {
    id: "q83v",
    rawId: "q83v",
    type: "public-key",
    response: { clientDataJSON: "e30", attestationObject: "o2NmbXRk", transports: ["internal", "hybrid"] },
    authenticatorAttachment: "platform",
    clientExtensionResults: { credProps: { rk: true } },
  };
  const added = await call("post", "/passkeys/registration", 201, {
    token: tokens.access,
    body: { ceremony: ceremony.data.ceremony, name: "laptop", credential },
  });
  show(added.ok ? added.body.status : explain(added.body));

  // Renew the pair with the renewal token.
  const renewed = expect(await call("post", "/session/renew", 200, { token: tokens.renewal }));
  tokens = pair(renewed.data);

  // Sign out: nothing comes back but the status.
  const out = expect(await call("delete", "/session", 200, { token: tokens.access }));
  const status: number = out.status;
  const nothing: Record<string, never> = out.data;
  show(status, nothing);
}
