// The server's BAD_USER_INPUT at the input it names (aria-invalid, described by the message).

export function invalidProps(issues: Map<string, string>, path: string, id: string) {
  const message = issues.get(path);
  return message ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-error`, 'data-issue-path': path } : { 'data-issue-path': path };
}

export function FieldError({ issues, path, id }: { issues: Map<string, string>; path: string; id: string }) {
  const message = issues.get(path);
  if (!message) return null;
  return (
    <p className="field-error" id={`${id}-error`} data-testid="field-error">
      {message}
    </p>
  );
}
