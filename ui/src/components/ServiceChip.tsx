import { serviceColor } from '../lib/colors';

export function ServiceChip({ service, count }: { service: string; count?: number }) {
  return (
    <span class="chip" style={{ borderLeftColor: serviceColor(service) }}>
      {service}{count !== undefined && <span class="chip-count">{count}</span>}
    </span>
  );
}
