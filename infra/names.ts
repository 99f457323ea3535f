/** `poll` → `Poll`: construct ids from the contract's lower-case names. */
export const pascal = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);
